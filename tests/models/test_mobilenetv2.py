"""mobilenet_v2 must have exactly the layer list of the paper's int8 mbv2-w0.35 json."""
import json

import pytest
import torch
from torch import nn

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.models.mobilenetv2 import build, mobilenet_v2
from tvm_tinytrain.paths import weights_dir


@pytest.fixture(scope="module")
def spec():
    return json.loads((weights_dir() / "mbv2-w0.35.json").read_text())


def json_convs(spec):
    convs = [spec["first_conv"]]
    for block in spec["blocks"]:
        convs += [block[k] for k in ("pointwise1", "depthwise", "pointwise2") if block[k] is not None]
    return [(tuple(c["kernel_size"]), c["stride"], c["in_channel"], c["out_channel"], c["groups"]) for c in convs]


def model_convs(model):
    return [(m.kernel_size, m.stride[0], m.in_channels, m.out_channels, m.groups)
            for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_conv_list_matches_json(spec):
    model = mobilenet_v2()
    assert len(model_convs(model)) == 51
    assert model_convs(model) == json_convs(spec)
    assert spec["feature_mix"] is None
    assert (model.classifier.in_features, model.classifier.out_features) == (112, 1000)


def test_module_paths_mirror_json(spec):
    names = dict(mobilenet_v2().named_modules())
    assert isinstance(names["first_conv.0"], nn.Conv2d)
    for i, block in enumerate(spec["blocks"]):
        for part in ("pointwise1", "depthwise", "pointwise2"):
            assert (f"blocks.{i}.{part}.0" in names) == (block[part] is not None)
    assert mobilenet_v2().blocks[0].pointwise1 is None


def test_conv_padding_and_activations():
    for name, m in mobilenet_v2().named_modules():
        if isinstance(m, nn.Conv2d):
            assert m.padding == (m.kernel_size[0] // 2,) * 2 and m.bias is None
        if name.endswith(("pointwise1", "depthwise")) or name == "first_conv":
            assert isinstance(m[-1], nn.ReLU6)
        if name.endswith("pointwise2"):
            assert isinstance(m[-1], nn.BatchNorm2d)


def test_residual_placement(spec):
    model, x = build()
    expected = [b["residual"] is not None for b in spec["blocks"]]
    assert [b.residual for b in model.blocks] == expected
    graph = torch.export.export(model, (x,)).graph
    adds = sum(1 for n in graph.nodes if n.op == "call_function" and "add" in str(n.target))
    assert adds == sum(expected) == 10


def test_shapes(spec):
    model, x = build()
    assert x.shape == (1, 3, 128, 128)
    assert not model.training
    with torch.no_grad():
        assert model(x).shape == (1, 1000)
        h = model.blocks(model.first_conv(x))
    assert h.shape == (1, 112, 4, 4)
    assert mobilenet_v2(num_classes=10)(torch.zeros(2, 3, 128, 128)).shape == (2, 10)


def test_build_is_deterministic_and_bn_nontrivial():
    (m1, x1), (m2, x2) = build(), build()
    torch.testing.assert_close(x1, x2, rtol=0, atol=0)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=0, atol=0)
    bn = m1.first_conv[1]
    assert not torch.allclose(bn.running_mean, torch.zeros(16))
    assert not torch.allclose(bn.running_var, torch.ones(16))
    assert torch.isfinite(m1(x1)).all()


def test_other_width_is_rejected():
    with pytest.raises(TinyTrainError, match="0.35"):
        mobilenet_v2(width=1.0)
