"""The PyTorch training-step oracle (tvm_tinytrain/reference_train.py) against the spec
(docs/training-semantics.md): its forward against the numpy reference, its gradients against
torch autograd of an independently written float64 formulation of the same linearised
backward, its updates against numpy re-computations, and the stochastic rounding hash
against Python integers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.data.images import center_crop_resize, to_int8_input
from tvm_tinytrain.data.samples import load_samples
from tvm_tinytrain.errors import ShapeError, TinyTrainError
from tvm_tinytrain.graph import INPUT, Graph, Layer, QParams
from tvm_tinytrain.quantization.requant import add_requant, weight_layer_requant
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.reference_train import TorchTrainer, hash_u32, stochastic_uniform
from tvm_tinytrain.scheme import Scheme

M32 = 0xFFFFFFFF


# ------------------------------------------------------------------ data

@pytest.fixture(scope="module")
def image():
    img, label = load_samples("imagenet")[0]
    return to_int8_input(center_crop_resize(img)), label


# ------------------------------------------------------- a tiny hand-made int8 graph
#
# input (3,9,9) -> c0 1x1 -> c1 conv 3x3 s2 pad (0,1,1,0) (ReLU-folded: act_min = zero; the last
# padded row and column are reached by no window) -> dw depthwise 3x3 pad (0,1,2,1) -> pw 1x1
# -> res = add(c1, pw) -> mp maxpool 2x2 s1 pad (0,0,1,1) (overlapping windows)
# -> pool -> flatten -> fc linear.  Output scales are calibrated so that about 15% of each
# tensor saturates, so the clamp masks matter at both ends; c1 feeds two layers (residual).

def _torch_pad(x, padding, value=0.0):
    top, left, bottom, right = padding
    return F.pad(x, (left, right, top, bottom), value=value)


def _real(q, v):
    return q.scale * (np.asarray(v, np.float64) - q.zero)


def _calibrated_q(y_real, zero, frac=0.85):
    scale = float(np.quantile(np.abs(y_real), frac)) / 110.0
    return QParams(max(scale, 1e-4), zero)


def _conv_layer(graph_layers, input_q, name, src, x_q_vals, x_q, w, w_scale, bias, attrs, zero, act_min):
    """Append a conv2d whose output quantization is calibrated on the current activations."""
    xr = torch.from_numpy(_real(x_q, x_q_vals))[None]
    wr = torch.from_numpy(w.astype(np.float64) * w_scale.astype(np.float64)[:, None, None, None])
    br = torch.from_numpy(bias.astype(np.float64) * w_scale * x_q.scale)
    y = F.conv2d(_torch_pad(xr, attrs["padding"]), wr, br, stride=attrs["stride"], groups=attrs["groups"])[0]
    out_q = _calibrated_q(y.numpy(), zero)
    params = {"weight": w, "bias": bias, "w_scale": w_scale, **weight_layer_requant(x_q, w_scale, out_q)}
    graph_layers.append(Layer(name, "conv2d", (src,), tuple(y.shape),
                              {**attrs, "act_min": act_min, "act_max": 127}, params, out_q))


def tiny_graph(seed=0):
    rng = np.random.default_rng(seed)
    input_q = QParams(0.04, 5)
    x = rng.integers(-128, 128, size=(3, 9, 9)).astype(np.int8)
    layers = []

    def run():
        g = Graph("tiny", (3, 9, 9), list(layers), input_q=input_q)
        return g, run_int8(g, x, return_all=True)

    def weights(shape):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        w_scale = rng.uniform(0.005, 0.03, size=shape[0]).astype(np.float32)
        bias = rng.integers(-3000, 3000, size=shape[0]).astype(np.int32)
        return w, w_scale, bias

    _conv_layer(layers, input_q, "c0", INPUT, x, input_q, *weights((4, 3, 1, 1)),
                dict(stride=1, padding=(0, 0, 0, 0), groups=1), zero=0, act_min=-128)
    g, v = run()
    _conv_layer(layers, input_q, "c1", "c0", v["c0"], g.q_of("c0"), *weights((6, 4, 3, 3)),
                dict(stride=2, padding=(0, 1, 1, 0), groups=1), zero=-20, act_min=-20)
    g, v = run()
    _conv_layer(layers, input_q, "dw", "c1", v["c1"], g.q_of("c1"), *weights((6, 1, 3, 3)),
                dict(stride=1, padding=(0, 1, 2, 1), groups=6), zero=3, act_min=-128)
    g, v = run()
    _conv_layer(layers, input_q, "pw", "dw", v["dw"], g.q_of("dw"), *weights((6, 6, 1, 1)),
                dict(stride=1, padding=(0, 0, 0, 0), groups=1), zero=-7, act_min=-128)
    g, v = run()
    a_q, b_q = g.q_of("c1"), g.q_of("pw")
    out_q = _calibrated_q(_real(a_q, v["c1"]) + _real(b_q, v["pw"]), 2, frac=0.7)  # ties at 127 in mp
    layers.append(Layer("res", "add", ("c1", "pw"), (6, 4, 4),
                        {**add_requant(a_q, b_q, out_q), "act_min": -128, "act_max": 127}, {}, out_q))
    layers.append(Layer("mp", "maxpool", ("res",), (6, 4, 4), {"kernel": 2, "stride": 1, "padding": (0, 0, 1, 1)},
                        {}, out_q))
    layers.append(Layer("pool", "avgpool", ("mp",), (6, 1, 1), {}, {}, out_q))
    layers.append(Layer("flatten", "flatten", ("pool",), (6,), {}, {}, out_q))
    g, v = run()
    w, w_scale, bias = weights((4, 6))
    x_q = g.q_of("flatten")
    y = (w * w_scale[:, None]) @ _real(x_q, v["flatten"]) + bias * w_scale * x_q.scale
    w_scale = (w_scale * (4.0 / np.abs(y).max())).astype(np.float32)   # logits within about +-4
    y = (w * w_scale[:, None]) @ _real(x_q, v["flatten"]) + bias * w_scale * x_q.scale
    fc_q = QParams(float(np.abs(y).max()) / 60.0, 1)
    layers.append(Layer("fc", "linear", ("flatten",), (4,), {"act_min": -128, "act_max": 127},
                        {"weight": w, "bias": bias, "w_scale": w_scale, **weight_layer_requant(x_q, w_scale, fc_q)},
                        fc_q))
    g, v = run()
    return g.check(), x


# ------------------------------------- the independent float64 formulation (autograd)

def _strict_mask(layer, y_int8):
    lo, hi = layer.attrs.get("act_min", -128), layer.attrs.get("act_max", 127)
    return torch.from_numpy(((y_int8 > lo) & (y_int8 < hi)).astype(np.float64))


def _first_max_index(x_int8, layer):
    """numpy: flat index (in the padded input) of the first row-major maximum of each window."""
    k, s = layer.attrs["kernel"], layer.attrs["stride"]
    top, left, bottom, right = layer.attrs["padding"]
    xp = np.pad(x_int8.astype(np.int16), ((0, 0), (top, bottom), (left, right)), constant_values=-1000)
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]
    c, oh, ow = win.shape[:3]
    arg = win.reshape(c, oh, ow, k * k).argmax(axis=-1)
    oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    flat = (oy * s + arg // k) * xp.shape[2] + (ox * s + arg % k)
    ties = (win.reshape(c, oh, ow, k * k) == win.reshape(c, oh, ow, k * k).max(-1, keepdims=True)).sum(-1) > 1
    return torch.from_numpy(flat.reshape(c, -1)), xp.shape, bool(ties.any())


def autograd_grads(graph, x, label, fp32_head=False):
    """Gradients of the loss w.r.t. every real weight/bias (float64 autograd).

    Each layer is y = actual + (f(inputs) - f(inputs).detach()) with f the linear map of the
    layer times its strict clamp mask, so values are those of the int8 forward and
    gradients are those of the spec's linearised backward; autograd does the transposes,
    the padding, the groups and the residual accumulation.
    """
    acts = run_int8(graph, x, return_all=True)
    leaves, vals = {}, {}
    for name, v in acts.items():
        vals[name] = torch.from_numpy(_real(graph.q_of(name), v))
    cur = {INPUT: vals[INPUT]}

    def ste(actual, f):
        return actual + (f - f.detach())

    for layer in graph.layers:
        src = [cur[s] for s in layer.inputs]
        actual = vals[layer.name]
        if layer.has_weights:
            p = layer.params
            s_w = torch.from_numpy(p["w_scale"].astype(np.float64))
            s_x = graph.q_of(layer.inputs[0]).scale
            shape = (-1,) + (1,) * (p["weight"].ndim - 1)
            w_r = (s_w.reshape(shape) * torch.from_numpy(p["weight"].astype(np.float64))).requires_grad_()
            b_r = (s_w * s_x * torch.from_numpy(p["bias"].astype(np.float64))).requires_grad_()
            leaves[layer.name] = (w_r, b_r)
            if layer.op == "conv2d":
                f = F.conv2d(_torch_pad(src[0][None], layer.attrs["padding"]), w_r, b_r,
                             stride=layer.attrs["stride"], groups=layer.attrs["groups"])[0]
            elif fp32_head and layer.name == graph.output:
                cur[layer.name] = F.linear(src[0], w_r, b_r)    # float head: its value is W x + B
                continue
            else:
                f = F.linear(src[0], w_r, b_r)
            cur[layer.name] = ste(actual, _strict_mask(layer, acts[layer.name]) * f)
        elif layer.op == "add":
            cur[layer.name] = ste(actual, _strict_mask(layer, acts[layer.name]) * (src[0] + src[1]))
        elif layer.op == "maxpool":
            idx, padded_shape, _ = _first_max_index(acts[layer.inputs[0]], layer)
            xp = _torch_pad(src[0], layer.attrs["padding"]).reshape(padded_shape[0], -1)
            cur[layer.name] = ste(actual, torch.gather(xp, 1, idx).reshape(actual.shape))
        elif layer.op == "avgpool":
            cur[layer.name] = ste(actual, src[0].mean(dim=(1, 2), keepdim=True))
        elif layer.op == "flatten":
            cur[layer.name] = src[0].reshape(-1)
    logits = cur[graph.output]
    loss = F.cross_entropy(logits[None], torch.tensor([label]))
    names = list(leaves)
    grads = torch.autograd.grad(loss, [t for n in names for t in leaves[n]])
    out = {}
    for i, n in enumerate(names):
        out[f"{n}.weight"], out[f"{n}.bias"] = grads[2 * i].numpy(), grads[2 * i + 1].numpy()
    return float(loss.detach()), logits.detach().numpy(), out


def _qas(layer, graph, dw_r, db_r, k, qas=True):
    """The spec's G_w~ (sliced) and G_b~ from real-valued gradients."""
    s_w = layer.params["w_scale"].astype(np.float64)
    s_x = graph.q_of(layer.inputs[0]).scale
    if layer.op == "conv2d" and layer.attrs["groups"] > 1:
        dw = dw_r[:k]
    else:
        dw = dw_r[:, :k]
    sw = s_w[: dw.shape[0]].reshape((-1,) + (1,) * (dw.ndim - 1))
    if qas:
        return dw / sw, db_r / (s_w * s_x)
    return dw * sw, db_r * (s_w * s_x)


def _close(actual, expected, name):
    assert actual.shape == expected.shape, name
    scale = max(np.abs(expected).max(), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale, err_msg=name)


TINY_K = {"c0": 2, "c1": 3, "dw": 4, "pw": 3, "fc": 5}


# ------------------------------------------------------------------------ forward

@pytest.mark.parametrize("name", BACKBONES)
def test_forward_equals_numpy_reference(name, image):
    x, _ = image
    graph = load_backbone(name)
    trainer = TorchTrainer(graph, Scheme("none"))
    ours, ref = trainer.forward(x[None]), run_int8(graph, x, return_all=True)
    for layer in graph.layers:
        assert ours[layer.name].dtype == np.int8
        np.testing.assert_array_equal(ours[layer.name], ref[layer.name], err_msg=f"{name} {layer.name}")


def test_step_forward_and_logits_on_tiny_graph():
    graph, x = tiny_graph()
    trainer = TorchTrainer(graph, Scheme("s", bias=("fc",)))
    result = trainer.step(x, 1, 0)
    ref = run_int8(graph, x, return_all=True)
    for layer in graph.layers:
        np.testing.assert_array_equal(result.activations[layer.name], ref[layer.name], err_msg=layer.name)
    q = graph.q_of("fc")
    np.testing.assert_allclose(result.logits, q.scale * (ref["fc"].astype(np.float32) - q.zero), rtol=1e-6)
    assert result.logits.dtype == np.float32
    l = result.logits.astype(np.float64)
    # float32 lse - l[label] cancels: the error is a few ulps of max|l|, not of the loss
    expect = np.log(np.exp(l - l.max()).sum()) + l.max() - l[1]
    assert result.loss == pytest.approx(expect, rel=1e-5, abs=4e-7 * np.abs(l).max())


# ---------------------------------------------------------------------- gradients

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_match_autograd_of_float_formulation(seed):
    graph, x = tiny_graph(seed)
    acts = run_int8(graph, x, return_all=True)
    # the checks below are only meaningful when masks and maxpool ties really occur
    for name in ("c0", "c1", "dw", "pw", "res"):
        mask = _strict_mask(graph.layer(name), acts[name]).numpy()
        assert 0.03 < mask.mean() < 0.97, (name, mask.mean())
    assert _first_max_index(acts["res"], graph.layer("mp"))[2], "no tie in any maxpool window"

    label = 2
    scheme = Scheme("all", bias=tuple(TINY_K), weights=dict(TINY_K), lr_weight=0.5, lr_bias=0.5)
    result = TorchTrainer(graph, scheme).step(x, label, 5)
    loss, logits, real = autograd_grads(graph, x, label)
    assert result.loss == pytest.approx(loss, rel=1e-5, abs=4e-7 * np.abs(logits).max())
    np.testing.assert_allclose(result.logits, logits, rtol=1e-5)
    assert result.visited == ("fc", "flatten", "pool", "mp", "res", "pw", "dw", "c1", "c0")
    assert set(result.grads) == {f"{n}.{p}" for n in TINY_K for p in ("weight", "bias")}
    for name, k in TINY_K.items():
        g_w, g_b = _qas(graph.layer(name), graph, real[f"{name}.weight"], real[f"{name}.bias"], k)
        assert result.grads[f"{name}.weight"].dtype == np.float32
        _close(result.grads[f"{name}.weight"], g_w, f"{name}.weight")
        _close(result.grads[f"{name}.bias"], g_b, f"{name}.bias")
        assert np.abs(g_w).max() > 0 and np.abs(g_b).max() > 0
    # the updates were big enough that using updated weights for dx_r would have shown above
    for name in ("fc", "pw", "dw"):
        moved = np.abs(result.params[f"{name}.weight"].astype(int) - graph.layer(name).params["weight"])
        assert moved.max() >= 2, name


def test_fp32_classifier_gradients_and_update():
    graph, x = tiny_graph(1)
    label = 0
    scheme = Scheme("fp32", bias=("pw", "fc"), weights={"pw": 6, "fc": 6}, fp32_classifier=True,
                    lr_weight=0.1, lr_bias=0.2)
    trainer = TorchTrainer(graph, scheme)
    head = graph.layer("fc")
    s_w, s_x = head.params["w_scale"], np.float32(graph.q_of("flatten").scale)
    W0, B0 = trainer.fp32_classifier()
    np.testing.assert_array_equal(W0, s_w[:, None] * head.params["weight"].astype(np.float32))
    np.testing.assert_allclose(B0, s_w * s_x * head.params["bias"].astype(np.float32), rtol=1e-6)
    result = trainer.step(x, label, 0)
    assert "fc" not in result.activations
    loss, logits, real = autograd_grads(graph, x, label, fp32_head=True)
    assert result.loss == pytest.approx(loss, rel=1e-5, abs=4e-7 * np.abs(logits).max())
    _close(result.grads["fc.weight"], real["fc.weight"], "dW")          # no QAS on the float head
    _close(result.grads["fc.bias"], real["fc.bias"], "dB")
    g_w, g_b = _qas(graph.layer("pw"), graph, real["pw.weight"], real["pw.bias"], 6)
    _close(result.grads["pw.weight"], g_w, "pw.weight")                 # dx_r = W^T g_l below the head
    _close(result.grads["pw.bias"], g_b, "pw.bias")
    # finite differences of the (smooth in W, B) loss
    x_r = (s_x * (result.activations["flatten"].astype(np.float64) - graph.q_of("flatten").zero))

    def ce(W, B):
        z = W @ x_r + B
        return np.log(np.exp(z - z.max()).sum()) + z.max() - z[label]

    W64, B64, eps = W0.astype(np.float64), B0.astype(np.float64), 1e-6
    for o, i in [(0, 0), (1, 3), (3, 5)]:
        Wp, Wm = W64.copy(), W64.copy()
        Wp[o, i] += eps
        Wm[o, i] -= eps
        assert result.grads["fc.weight"][o, i] == pytest.approx((ce(Wp, B64) - ce(Wm, B64)) / (2 * eps), abs=1e-5)
    Bp = B64.copy()
    Bp[2] += eps
    assert result.grads["fc.bias"][2] == pytest.approx((ce(W64, Bp) - ce(W64, B64)) / eps, abs=1e-5)
    # float32 SGD on the head
    W1, B1 = trainer.fp32_classifier()
    np.testing.assert_array_equal(W1, W0 - np.float32(0.1) * result.grads["fc.weight"])
    np.testing.assert_array_equal(B1, B0 - np.float32(0.2) * result.grads["fc.bias"])
    np.testing.assert_array_equal(result.params["fc.weight"], W1)


def test_qas_factors():
    graph, x = tiny_graph(2)
    kw = dict(bias=tuple(TINY_K), weights=dict(TINY_K))
    on = TorchTrainer(graph, Scheme("on", qas=True, **kw)).step(x, 3, 0)
    off = TorchTrainer(graph, Scheme("off", qas=False, **kw)).step(x, 3, 0)
    assert on.loss == off.loss
    for name, k in TINY_K.items():
        layer = graph.layer(name)
        s_w = layer.params["w_scale"].astype(np.float64)
        s_x = graph.q_of(layer.inputs[0]).scale
        g_on, g_off = on.grads[f"{name}.weight"].astype(np.float64), off.grads[f"{name}.weight"]
        sw = s_w[: g_on.shape[0]].reshape((-1,) + (1,) * (g_on.ndim - 1))
        _close(g_on * sw ** 2, g_off.astype(np.float64), f"{name}.weight")       # G_w = G_w~ * s_w^2
        _close(on.grads[f"{name}.bias"] * (s_w * s_x) ** 2, off.grads[f"{name}.bias"].astype(np.float64),
               f"{name}.bias")                                                   # G_b = G_b~ * (s_w s_x)^2
        assert np.abs(g_off).max() > 0


def test_updates_follow_the_spec_rounding():
    graph, x = tiny_graph(0)
    lr_w, lr_b, step = 0.37, 0.23, 123456
    scheme = Scheme("all", bias=tuple(TINY_K), weights=dict(TINY_K))
    trainer = TorchTrainer(graph, scheme)
    result = trainer.step(x, 1, step, lr_weight=lr_w, lr_bias=lr_b)
    for name, k in TINY_K.items():
        layer = graph.layer(name)
        w0, b0 = layer.params["weight"], layer.params["bias"]
        g_b = result.grads[f"{name}.bias"]
        expect_b = b0.astype(np.int64) - np.round(np.float32(lr_b) * g_b).astype(np.int64)
        np.testing.assert_array_equal(result.params[f"{name}.bias"], expect_b.astype(np.int32))
        assert result.params[f"{name}.bias"].dtype == np.int32
        sl = np.s_[:k] if name == "dw" else np.s_[:, :k]
        old = w0[sl]
        g_w = result.grads[f"{name}.weight"]
        assert g_w.shape == old.shape
        u = stochastic_uniform(step, layer.conv_index, old.size).numpy().reshape(old.shape)
        v = old.astype(np.float32) - np.float32(lr_w) * g_w
        expect = w0.copy()
        expect[sl] = np.clip(np.floor(v + u), -127, 127).astype(np.int8)
        new = result.params[f"{name}.weight"]
        assert new.dtype == np.int8 and new.shape == w0.shape
        np.testing.assert_array_equal(new, expect, err_msg=name)
        rest = np.ones(w0.shape, bool)
        rest[sl] = False
        np.testing.assert_array_equal(new[rest], w0[rest])       # outside the slice: untouched
    # the trainer's state and the graph copy carry the update; the input graph is untouched
    params = trainer.params()
    updated = trainer.graph_with_params()
    for key, value in result.params.items():
        np.testing.assert_array_equal(params[key], value)
        name, what = key.split(".")
        np.testing.assert_array_equal(updated.layer(name).params[what], value)
    assert not np.array_equal(graph.layer("pw").params["weight"], updated.layer("pw").params["weight"])
    np.testing.assert_array_equal(trainer.forward(x)["fc"], run_int8(updated, x))


def _tie_lr(g_b):
    """(lr, j): a float32 lr with float32(lr) * g_b[j] == k + 0.5 exactly, k even and positive."""
    for j in np.argsort(-g_b):
        if g_b[j] <= 0:
            break
        for target in (2.5, 0.5, 4.5, 6.5, 8.5):
            lr = np.float32(target / np.float64(g_b[j]))
            if lr * g_b[j] == np.float32(target):
                return float(lr), int(j), target
    raise AssertionError("no float32 tie found")


def test_bias_update_rounds_half_to_even():
    graph, x = tiny_graph(0)
    scheme = Scheme("b", bias=("pw",))
    g_b = TorchTrainer(graph, scheme).step(x, 1, 0).grads["pw.bias"]
    lr, j, target = _tie_lr(g_b)
    result = TorchTrainer(graph, scheme).step(x, 1, 0, lr_bias=lr)
    np.testing.assert_array_equal(result.grads["pw.bias"], g_b)
    b0 = graph.layer("pw").params["bias"].astype(np.int64)
    assert result.params["pw.bias"][j] == b0[j] - (target - 0.5)          # k + 0.5 -> k (k even)
    np.testing.assert_array_equal(result.params["pw.bias"],
                                  b0 - np.round(np.float32(lr) * g_b).astype(np.int64))


def test_backward_stops_at_earliest_updated_layer():
    graph, x = tiny_graph(0)
    r = TorchTrainer(graph, Scheme("head", bias=("fc",))).step(x, 0, 0)
    assert r.visited == ("fc",) and set(r.grads) == {"fc.bias"} and set(r.params) == {"fc.bias"}
    r = TorchTrainer(graph, Scheme("pw", weights={"pw": 1})).step(x, 0, 0)
    assert r.visited == ("fc", "flatten", "pool", "mp", "res", "pw")
    assert set(r.grads) == {"pw.weight"} and r.grads["pw.weight"].shape == (6, 1, 1, 1)
    r = TorchTrainer(graph, Scheme("dw", weights={"dw": 2})).step(x, 0, 0)
    assert r.visited[-1] == "dw" and "c1" not in r.visited and "c0" not in r.visited
    assert r.grads["dw.weight"].shape == (2, 1, 3, 3)


# ----------------------------------------------------------- stochastic rounding

def _py_hash(n):
    n &= M32
    n ^= n >> 16
    n = (n * 0x7FEB352D) & M32
    n ^= n >> 15
    n = (n * 0x846CA68B) & M32
    n ^= n >> 16
    return n


def test_hash_hand_values():
    assert _py_hash(0) == 0 and _py_hash(1) == 0x688990C0
    np.testing.assert_array_equal(stochastic_uniform(0, 0, 2).numpy(), np.float32([0.0, (0x688990C0 >> 8) * 2.0**-24]))
    for step, conv in [(7, 3), (2**32 - 1, 2**31 + 5), (987654321, 41)]:
        u = stochastic_uniform(step, conv, 2)
        for i in range(2):
            n = (i + 0x9E3779B9 * step + 0x85EBCA6B * conv) & M32
            assert float(u[i]) == (_py_hash(n) >> 8) * 2.0**-24, (step, conv, i)
    rng = np.random.default_rng(0)
    ns = np.concatenate([rng.integers(0, 2**32, 2000), [0, 1, 2**31 - 1, 2**31, 2**32 - 1]])
    np.testing.assert_array_equal(hash_u32(torch.from_numpy(ns.astype(np.int64))).numpy(),
                                  [_py_hash(int(n)) for n in ns])


def test_stochastic_uniform_distribution():
    u = stochastic_uniform(3, 17, 100_000)
    assert u.dtype == torch.float32 and u.shape == (100_000,)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.005
    assert torch.equal(u, stochastic_uniform(3, 17, 100_000))
    assert torch.equal(u[:10], stochastic_uniform(3, 17, 10))            # prefix-stable in n
    assert not torch.equal(u[:100], stochastic_uniform(4, 17, 100))
    assert not torch.equal(u[:100], stochastic_uniform(3, 18, 100))


# ------------------------------------------------------------- SGD on a backbone

def test_sgd_overfits_one_image(image):
    x, _ = image
    graph = load_backbone("mcunet-5fps", num_classes=10)
    convs = [layer.name for layer in graph.weight_layers()]
    assert convs[-1] == "classifier" and convs[-2] == "blocks.13.pointwise2"
    scheme = Scheme("tail", bias=tuple(convs[-6:]), weights={"classifier": 160, "blocks.13.pointwise2": 576},
                    lr_weight=0.002, lr_bias=0.002)
    trainer = TorchTrainer(graph, scheme)
    label = 7
    losses = [trainer.step(x, label, step).loss for step in range(10)]
    assert losses[-1] < losses[0] * 0.5, losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 6, losses
    np.testing.assert_array_equal(trainer.forward(x)["classifier"], run_int8(trainer.graph_with_params(), x))
    np.testing.assert_array_equal(graph.layer("classifier").params["weight"],
                                  load_backbone("mcunet-5fps", num_classes=10).layer("classifier").params["weight"])


# ------------------------------------------------------------------------ errors

@pytest.mark.parametrize("scheme, match", [
    (Scheme("x", bias=("nope",)), "nope"),
    (Scheme("x", weights={"nope": 1}), "nope"),
    (Scheme("x", bias=("pool",)), "without parameters"),
    (Scheme("x", weights={"pw": 7}), "k=7"),
    (Scheme("x", weights={"dw": 7}), "k=7"),
    (Scheme("x", weights={"c1": 0}), "k=0"),
    (Scheme("x", weights={"c1": 5}), "k=5"),
    (Scheme("x", weights={"fc": 2.5}), "k=2.5"),
])
def test_scheme_errors(scheme, match):
    graph, _ = tiny_graph(0)
    with pytest.raises(TinyTrainError, match=match):
        TorchTrainer(graph, scheme)


def test_step_errors():
    graph, x = tiny_graph(0)
    trainer = TorchTrainer(graph, Scheme("x", bias=("fc",)))
    with pytest.raises(TinyTrainError, match="label"):
        trainer.step(x, 4, 0)
    with pytest.raises(ShapeError):
        trainer.step(x.astype(np.float32), 0, 0)
    with pytest.raises(ShapeError):
        trainer.step(x[:, :4], 0, 0)
    with pytest.raises(TinyTrainError, match="step_index"):
        trainer.step(x, 0, -1)
    with pytest.raises(TinyTrainError, match="fp32_classifier"):
        TorchTrainer(Graph("conv", (3, 9, 9), [graph.layer("c0")], input_q=graph.input_q),
                     Scheme("x", fp32_classifier=True))
