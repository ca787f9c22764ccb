"""to_graph: the fp32 Relax module read back as a float layer graph."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_float_input
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import RelaxModel, from_torch
from tvm_tinytrain.graph import INPUT
from tvm_tinytrain.models import mobilenetv2, tiny_resnet
from tvm_tinytrain.reference import run_float

from frontend_helpers import torch_logits


@pytest.fixture(scope="module")
def images():
    return load_cifar10("test", per_class=1)[0][:4]


@pytest.fixture(scope="module")
def resnet():
    model, x = tiny_resnet.build()
    rm = from_torch(model, x)
    return model, rm, to_graph(rm)


@pytest.fixture(scope="module")
def mbv2():
    model, x = mobilenetv2.build(num_classes=10)
    rm = from_torch(model, x)
    return model, rm, to_graph(rm)


def _summary(graph):
    return [(l.name, l.op, l.inputs, l.attrs.get("act")) for l in graph.layers]


def test_tiny_resnet_layers(resnet):
    _, _, g = resnet
    assert _summary(g) == [
        ("stem.0", "conv2d", (INPUT,), "relu"),
        ("maxpool", "maxpool", ("stem.0",), None),
        ("layer1.conv1", "conv2d", ("maxpool",), "relu"),
        ("layer1.conv2", "conv2d", ("layer1.conv1",), None),
        ("add", "add", ("layer1.conv2", "maxpool"), "relu"),
        ("layer2.conv1", "conv2d", ("add",), "relu"),
        ("layer2.conv2", "conv2d", ("layer2.conv1",), None),
        ("layer2.downsample.0", "conv2d", ("add",), None),
        ("add2", "add", ("layer2.conv2", "layer2.downsample.0"), "relu"),
        ("avgpool", "avgpool", ("add2",), None),
        ("flatten", "flatten", ("avgpool",), None),
        ("classifier", "linear", ("flatten",), None),
    ]
    assert g.output == "classifier" and g.input_shape == (3, 32, 32) and g.num_classes == 10
    assert not g.quantized
    shapes = {l.name: l.out_shape for l in g.layers}
    assert shapes["stem.0"] == (16, 32, 32) and shapes["maxpool"] == (16, 16, 16)
    assert shapes["add2"] == (32, 8, 8) and shapes["avgpool"] == (32, 1, 1) and shapes["flatten"] == (32,)
    assert g.layer("maxpool").attrs == {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1)}
    conv = g.layer("layer2.conv1").attrs
    assert (conv["stride"], conv["padding"], conv["groups"]) == (2, (1, 1, 1, 1), 1)
    assert g.layer("layer2.downsample.0").attrs["padding"] == (0, 0, 0, 0)


def test_conv_index_numbering(resnet):
    _, _, g = resnet
    assert [(l.name, l.conv_index) for l in g.weight_layers()] == [
        ("stem.0", 0), ("layer1.conv1", 1), ("layer1.conv2", 2), ("layer2.conv1", 3),
        ("layer2.conv2", 4), ("layer2.downsample.0", 5), ("classifier", 6)]
    assert all(l.conv_index is None for l in g.layers if not l.has_weights)


def test_params_are_the_folded_relax_params(resnet):
    _, rm, g = resnet
    for layer in g.weight_layers():
        np.testing.assert_array_equal(layer.params["weight"], rm.params[f"{layer.name}.weight"])
        np.testing.assert_array_equal(layer.params["bias"], rm.params[f"{layer.name}.bias"])
        assert layer.params["weight"].dtype == layer.params["bias"].dtype == np.float32
    assert g.layer("classifier").params["weight"].shape == (10, 32)  # (out, in), like torch
    # the graph owns its bias arrays (fused bias add): changing it does not reach the Relax params
    assert not np.shares_memory(g.layer("stem.0").params["bias"], rm.params["stem.0.bias"])


def test_mbv2_layers(mbv2):
    model, _, g = mbv2
    weights = g.weight_layers()
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(weights) == 52 and len(convs) == 51
    assert [l.name for l in weights] == convs + ["classifier"]
    assert [l.op for l in weights] == ["conv2d"] * 51 + ["linear"]
    assert [l.conv_index for l in weights] == list(range(52))
    acts = [l.attrs.get("act") for l in g.layers]
    assert acts.count("relu6") == 34 and acts.count("relu") == 0
    assert [l.op for l in g.layers].count("add") == 10
    assert [l.op for l in g.layers[-3:]] == ["avgpool", "flatten", "linear"]
    for i in range(17):
        dw = g.layer(f"blocks.{i}.depthwise.0")
        assert dw.attrs["groups"] == dw.params["weight"].shape[0] and dw.params["weight"].shape[1] == 1
        assert g.layer(f"blocks.{i}.pointwise2.0").attrs["act"] is None
    # residual adds read the block input and the projection (x + y in torch's order)
    adds = [l for l in g.layers if l.op == "add"]
    residual = [i for i, row in enumerate(mobilenetv2.BLOCKS) if row[-1]]
    assert [a.inputs for a in adds[:2]] == [("blocks.1.pointwise2.0", "blocks.2.pointwise2.0"),
                                            ("blocks.3.pointwise2.0", "blocks.4.pointwise2.0")]
    assert adds[2].inputs == ("add2", "blocks.5.pointwise2.0")  # block 5 adds onto block 4's sum
    assert len(adds) == len(residual) and all(a.attrs["act"] is None for a in adds)


@pytest.mark.parametrize("which", ["resnet", "mbv2"])
def test_run_float_matches_torch(which, request, images):
    model, _, g = request.getfixturevalue(which)
    size = g.input_shape[1]
    for img in images:
        x = to_float_input(resize_to(img, size))
        ref = torch_logits(model, x[None]).reshape(-1)
        got = run_float(g, x)
        assert got.shape == (10,)
        assert np.abs(got - ref).max() < 1e-4


# -- unsupported ops -------------------------------------------------------------------------

class _LocalAvgPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return F.avg_pool2d(self.conv(x), 2)


class _ReluOnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(x))


class _ReluAfterMaxpool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return torch.relu(self.pool(self.conv(x)))


@pytest.mark.parametrize("model, op, after", [
    (_ReluOnInput, "relax.nn.relu", "'the input'"),
    (_ReluAfterMaxpool, "relax.nn.relu", "'maxpool'"),
])
def test_unsupported_relax_op_names_op_and_previous_layer(model, op, after):
    rm = from_torch(model().eval(), torch.randn(1, 3, 8, 8))
    with pytest.raises(UnsupportedOpError) as err:
        to_graph(rm)
    assert op in str(err.value) and f"after layer {after}" in str(err.value)


def test_local_average_pool_imports_as_a_windowed_pool():
    """aten.avg_pool2d with a window smaller than the map is a windowed avgpool layer (it used to be
    refused as not global)."""
    graph = to_graph(from_torch(_LocalAvgPool().eval(), torch.randn(1, 3, 8, 8)))
    pool = graph.layers[1]
    assert pool.op == "avgpool" and pool.out_shape == (4, 4, 4)
    assert pool.attrs == {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0), "count_include_pad": True}


@pytest.mark.parametrize("pool, reason", [
    (lambda y: F.avg_pool2d(y, 3, 2, ceil_mode=True), "ceil_mode=True"),
    (lambda y: F.avg_pool2d(y, 2, divisor_override=3), "divisor_override=3"),
    (lambda y: F.max_pool2d(y, 2, dilation=2), "dilation=(2, 2)"),
])
def test_pool_forms_still_refused_at_the_torch_check_all_at_once(pool, reason):
    """What a pool layer cannot represent is named at the first check, beside any other problem."""
    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.ConvTranspose2d(3, 4, 3, padding=1)  # a second problem, reported too

        def forward(self, x):
            return pool(self.conv(x))

    with pytest.raises(UnsupportedOpError) as err:
        from_torch(Pooled().eval(), torch.randn(1, 3, 9, 9))
    assert reason in str(err.value) and "aten.conv_transpose2d" in str(err.value)
    assert "2 unsupported" in str(err.value)


def test_average_pool_over_the_whole_map_is_global_pooling():
    class WholeMap(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return F.avg_pool2d(self.conv(x), 8).flatten(1)

    graph = to_graph(from_torch(WholeMap().eval(), torch.randn(1, 3, 8, 8)))
    assert [layer.op for layer in graph.layers] == ["conv2d", "avgpool", "flatten"]


def test_unsupported_op_in_hand_built_module():
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type((1, 3, 4, 4), "float32"))
    w = relax.Var("head.weight", tensor_type((2, 3, 1, 1), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            conv = bb.emit(relax.op.nn.conv2d(x, w))
            out = bb.emit_output(relax.op.nn.gelu(conv))  # (sigmoid: the lut layer)
        bb.emit_func_output(out)
    params = {"head.weight": np.ones((2, 3, 1, 1), np.float32)}
    with pytest.raises(UnsupportedOpError) as err:
        to_graph(RelaxModel(bb.get(), params, "hand", (3, 4, 4)))
    assert "relax.nn.gelu" in str(err.value) and "after layer 'head'" in str(err.value)


def test_hand_built_module_without_names():
    """A weight that is a literal constant gets an automatic layer name."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type((1, 3, 4, 4), "float32"))
    w = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1)
    with bb.function("main", [x]):
        with bb.dataflow():
            conv = bb.emit(relax.op.nn.conv2d(x, relax.const(w)))
            out = bb.emit_output(relax.op.nn.relu(conv))
        bb.emit_func_output(out)
    g = to_graph(RelaxModel(bb.get(), {}, "hand", (3, 4, 4)))
    assert _summary(g) == [("conv2d", "conv2d", (INPUT,), "relu")]
    np.testing.assert_array_equal(g.layers[0].params["weight"], w)
    x_val = np.random.default_rng(0).normal(size=(3, 4, 4)).astype(np.float32)
    want = np.maximum(np.einsum("oc,chw->ohw", w[:, :, 0, 0], x_val), 0)
    np.testing.assert_allclose(run_float(g, x_val), want, rtol=1e-5, atol=1e-6)


def test_every_unsupported_binding_is_reported_at_once_without_follow_on_errors():
    """Two unsupported ops in separate branches are both named; the add that reads one of them is not
    reported (its own support cannot be known)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type((1, 3, 4, 4), "float32"))
    w = relax.Var("head.weight", tensor_type((2, 3, 1, 1), "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            conv = bb.emit(relax.op.nn.conv2d(x, w))
            gate = bb.emit(relax.op.nn.gelu(conv))
            sine = bb.emit(relax.op.sin(bb.emit(relax.op.nn.conv2d(x, w, dilation=2))))
            out = bb.emit_output(relax.op.add(gate, sine))
        bb.emit_func_output(out)
    params = {"head.weight": np.ones((2, 3, 1, 1), np.float32)}
    with pytest.raises(UnsupportedOpError) as err:
        to_graph(RelaxModel(bb.get(), params, "hand", (3, 4, 4)))
    text = str(err.value)
    assert "2 unsupported" in text and "relax.nn.gelu" in text and "relax.sin" in text
    assert "relax.add" not in text and text.splitlines()[-1].startswith("supported: conv2d")
