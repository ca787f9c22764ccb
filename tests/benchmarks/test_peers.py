"""benchmarks.peers: the Relax-importable network computes the fp32 copy and carries the sparse
scheme in its parameters, for every layer kind (lut functions, SE mul gates); one relax.training
step's gradient is torch autograd's on the fp32 copy; TVM relax.training really trains (slow:
import + compile)."""
import json

import numpy as np
import pytest
import torch

import lut_models
from lut_models import one_torch_thread  # noqa: F401  (autouse fixture)
import se_models
from benchmarks.peers import PEERS, _spawn, markdown, relax_net, relax_trainer
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.float_model import FloatNet, trained_values
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import grouped_cnn, multiplier_cnn
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme

pytestmark = pytest.mark.filterwarnings("ignore:.*dead output channels")  # random weights: said at quantization


def _net(which):
    """(int8 graph, one float input (1, C, H, W)) of MobileNetV3-small w0.25, the SE CNN or a lut CNN."""
    if which == "mobilenetv3_small":
        _, graph, images = lut_models.quantized_mobilenetv3(1)
        return graph, torch.from_numpy(images)
    if which == "se":
        return se_models.quantized()[1], torch.from_numpy(se_models.samples(1, seed=5))
    return lut_models.quantized(which)[1], torch.from_numpy(lut_models.samples(1, seed=5))


@pytest.mark.parametrize("which", ["mobilenetv3_small", *lut_models.ACTIVATIONS])
def test_relax_net_forward_is_the_float_copy_for_lut_and_mul_layers(which):
    graph, x = _net(which)
    assert "lut" in {l.op for l in graph.layers}
    with torch.no_grad():
        assert torch.allclose(relax_net(graph)(x), FloatNet(graph)(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("module, trained", [(grouped_cnn, (8, 2, 3, 3)), (multiplier_cnn, (4, 1, 3, 3))])
def test_relax_net_trains_the_slice_of_a_grouped_or_multiplier_conv(module, trained):
    """features.3 at k 2: a grouped conv (groups 2) trains weight[:, :2], every row's leading inputs of its
    group (not rows, as if depthwise); a depthwise conv with multiplier 2 trains rows [:2 * 2]."""
    model, x = module.build()
    samples = np.random.default_rng(0).normal(0, 1, (8, *module.INPUT_SHAPE)).astype(np.float32)
    graph = quantize(to_graph(from_torch(model, x)), samples, progress=False)
    scheme = Scheme("slice", bias=("features.3",), weights={"features.3": 2})
    net, float_net = relax_net(graph, scheme), FloatNet(graph)
    i = next(i for i, layer, *_ in net.steps if layer.name == "features.3")
    assert tuple(getattr(net, f"w{i}").shape) == trained
    assert sum(p.numel() for p in net.parameters()) == trained_values(float_net, scheme)
    with torch.no_grad():
        assert torch.allclose(net(x), float_net(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", ["se", "sigmoid", "silu", "tanh", "leaky_relu"])
def test_one_relax_training_step_has_the_float_copys_gradient(which):
    """relax.training's SGD step at lr 1 moves every parameter by its gradient: (before - after) is
    torch autograd's gradient of the summed cross-entropy on FloatNet (SE: Hardswish, Hardsigmoid, mul)."""
    graph, x = _net(which)
    y = torch.tensor([3])
    float_net, net = FloatNet(graph), relax_net(graph)
    loss = torch.nn.functional.cross_entropy(float_net(x), y, reduction="sum")
    loss.backward()
    trainer, before = relax_trainer(net, x, graph.num_classes, lr=1.0)
    assert float(trainer.update([x.numpy()], [y.numpy()]).numpy()) == pytest.approx(loss.item(), rel=1e-5)
    after = trainer.export_params()
    names = [name for name, _ in net.named_parameters()]
    assert list(after) == [f"p_{name}" for name in names]
    for name, old, new in zip(names, before, after.values(), strict=True):
        module = float_net.module(net.steps[int(name[1:])][1].name)
        ref = (module.weight if name[0] == "w" else module.bias).grad.numpy()
        np.testing.assert_allclose(old - new.numpy(), ref, rtol=1e-4, atol=1e-5, err_msg=name)


def test_relax_net_is_the_float_copy_with_the_scheme_trainable():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    scheme = resolve_scheme("paper-100kb", graph)
    x = torch.randn(1, 3, 128, 128)
    float_net = FloatNet(graph)
    sparse, full = relax_net(graph, scheme), relax_net(graph)
    with torch.no_grad():
        ref = float_net(x)
        assert torch.allclose(sparse(x), ref, atol=1e-5) and torch.allclose(full(x), ref, atol=1e-5)
    assert sum(p.numel() for p in sparse.parameters()) == trained_values(float_net, scheme)
    assert sum(p.numel() for p in full.parameters()) == sum(p.numel() for p in float_net.parameters())


def test_markdown_reports_a_failed_peer_with_its_reason():
    rows = [{"model": "m", "scheme": "s", "peer": PEERS["relax-full"], "measured": False,
             "reason": "InternalError: Check failed: x"}]
    assert "| m | s | tvm relax.training fp32, full update | not measured | | | | InternalError: Check failed: x |" \
        in markdown(rows)


@pytest.mark.slow
def test_relax_training_sparse_peer_measures():
    result = _spawn("relax-sparse", "mcunet-5fps", "paper-100kb")
    assert result["measured"], result.get("reason")
    assert result["ms_per_step"] > 0 and result["peak_rss_bytes"] > 100 * 2**20
    assert result["trained_values"] == 58882 and result["scheme_resolved"] == "paper-99kb"
    torch_result = _spawn("torch-sparse", "mcunet-5fps", "paper-100kb")
    assert result["loss"] == pytest.approx(torch_result["loss"], rel=1e-5)  # the same network and image
    json.dumps(result)
