"""from_torch: torch.nn.Module -> fp32 Relax (BN folded, torch-path parameter names), built by TVM."""
import numpy as np
import pytest
import torch
from torch import nn

from tvm_tinytrain import _tvm
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_float_input
from tvm_tinytrain.errors import ShapeError, TinyTrainError, UnsupportedOpError
from tvm_tinytrain.frontend.torch import RelaxModel, from_torch
from tvm_tinytrain.models import mobilenetv2, tiny_resnet

from frontend_helpers import MODELS, torch_logits

@pytest.fixture(scope="module")
def cifar():
    images, labels = load_cifar10("test", per_class=1)
    return images, labels


@pytest.fixture(scope="module", params=sorted(MODELS))
def imported(request, cifar):
    """(torch model, RelaxModel, TVM-built main, real float inputs (N, 3, S, S))."""
    build, size = MODELS[request.param]
    model, example = build()
    rm = from_torch(model, example)
    inputs = np.stack([to_float_input(resize_to(img, size)) for img in cifar[0][:3]])
    return model, rm, _tvm.build(rm.mod), inputs


def _run(built, rm: RelaxModel, x):
    return built(x, *[rm.params[p.name] for p in rm.mod["main"].params[1:]])


def test_relax_matches_torch_on_real_images(imported):
    model, rm, built, inputs = imported
    assert rm.input_shape == inputs.shape[1:]
    for x in inputs:
        x = x[None]
        ref = torch_logits(model, x)
        got = _run(built, rm, x)
        assert got.shape == ref.shape == (1, 10)
        assert np.abs(got - ref).max() < 1e-4
        assert not np.allclose(ref, ref.mean())  # a real, input-dependent output


def test_params_are_the_function_parameters(imported):
    _, rm, _, _ = imported
    func = rm.mod["main"]
    names = [p.name for p in func.params[1:]]
    assert sorted(names) == sorted(rm.params) and len(set(names)) == len(names)
    for p in func.params[1:]:
        value = rm.params[p.name]
        assert value.dtype == np.float32 and value.shape == _tvm.shape_of(p), p.name
    assert _tvm.shape_of(func.params[0]) == (1, *rm.input_shape)


def test_module_is_well_formed(imported):
    # returning a DataflowVar from outside the dataflow block is ill-formed Relax
    _, rm, _, _ = imported
    _tvm.relax.analysis.well_formed(rm.mod)  # raises on failure


def test_names_follow_torch_paths_and_bn_is_folded(imported):
    model, rm, _, _ = imported
    script = rm.mod.script()
    assert "batch_norm" not in script
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    bns = {name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert len(convs) == len(bns) > 0
    for name in convs:  # every conv had a BN after it: it now has a bias named after it
        assert f"{name}.weight" in rm.params and f"{name}.bias" in rm.params, name
    for name in bns:
        assert not any(k.startswith(f"{name}.") for k in rm.params), name
    assert "classifier.weight" in rm.params and "classifier.bias" in rm.params
    assert set(rm.params) == {f"{n}.{k}" for n in [*convs, "classifier"] for k in ("weight", "bias")}


def test_mbv2_names_and_folded_values():
    model, example = mobilenetv2.build(num_classes=10)
    rm = from_torch(model, example)
    assert {"first_conv.0.weight", "first_conv.0.bias", "blocks.1.pointwise1.0.bias",
            "blocks.16.pointwise2.0.weight", "classifier.weight"} <= set(rm.params)
    assert "first_conv.1.weight" not in rm.params and "first_conv.1.running_mean" not in rm.params
    conv, bn = model.first_conv[0], model.first_conv[1]
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    want_w = conv.weight.detach().numpy() * scale[:, None, None, None]
    want_b = bn.bias.detach().numpy() - bn.running_mean.numpy() * scale
    np.testing.assert_allclose(rm.params["first_conv.0.weight"], want_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rm.params["first_conv.0.bias"], want_b, rtol=1e-5, atol=1e-7)
    # the torch module itself is untouched
    assert torch.equal(conv.weight, mobilenetv2.build(num_classes=10)[0].first_conv[0].weight)
    assert rm.name == "MobileNetV2" and rm.input_shape == (3, 128, 128)
    small, small_x = tiny_resnet.build()
    assert from_torch(small, small_x, name="resnet").name == "resnet"


# -- errors ------------------------------------------------------------------------------

class _Gate(nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x)  # (x * sigmoid(x) is SiLU: the lut layer)


class _WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = _Gate()

    def forward(self, x):
        return self.gate(self.conv(x))


class _WithUpsample(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Sequential(nn.ReLU(), nn.Upsample(scale_factor=2))

    def forward(self, x):
        return self.head(self.conv(x))


def test_unsupported_op_names_aten_op_and_module_path():
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(UnsupportedOpError) as err:
        from_torch(_WithGelu(), x)
    assert "aten.gelu" in str(err.value) and "'gate'" in str(err.value) and "_Gate" in str(err.value)
    with pytest.raises(UnsupportedOpError) as err:
        from_torch(_WithUpsample(), x)
    assert "aten.upsample_nearest2d" in str(err.value) and "'head.1'" in str(err.value)


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 3, 32, 32), (1, 1, 3, 32, 32)])
def test_example_input_of_wrong_shape(shape):
    model, _ = tiny_resnet.build()
    with pytest.raises(ShapeError, match=r"\(1, C, H, W\)"):
        from_torch(model, torch.zeros(shape))


def test_example_input_not_a_tensor():
    model, x = tiny_resnet.build()
    with pytest.raises(ShapeError):
        from_torch(model, x.numpy())


def test_not_a_module():
    _, x = tiny_resnet.build()
    with pytest.raises(TinyTrainError, match="torch.nn.Module"):
        from_torch(lambda t: t, x)
    with pytest.raises(TinyTrainError, match="torch.nn.Module"):
        from_torch(tiny_resnet.build, x)


class _MobileNetV3ish(nn.Module):
    """GELU twice, a transposed conv, a squeeze-excite gate (Softplus; its multiply is the mul layer's now) and a
    division (Hardswish and Hardsigmoid, once here, are the lut layer's now)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = nn.GELU()
        self.conv2 = nn.ConvTranspose2d(8, 8, 3, padding=1)
        self.gate = nn.Softplus()
        self.act2 = nn.GELU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.conv2(self.act1(self.stem(x)))
        x = self.act2(x * self.gate(x.mean((2, 3), keepdim=True)))
        return self.fc(x.mean((2, 3)) / 2)


def test_every_unsupported_op_is_reported_at_once():
    """A MobileNetV3-style model used to need one attempt per op (one activation, then another, then ...)."""
    with pytest.raises(UnsupportedOpError) as err:
        from_torch(_MobileNetV3ish().eval(), torch.randn(1, 3, 16, 16))
    lines = str(err.value).splitlines()
    assert lines[0].startswith("from_torch: 5 unsupported") and "4 kind(s)" in lines[0]
    assert "aten.gelu" in lines[1] and "'act1'" in lines[1] and "'act2'" in lines[1]
    assert "aten.conv_transpose2d" in lines[2] and "'conv2'" in lines[2]
    assert "aten.softplus" in lines[3] and "'gate'" in lines[3]
    assert "aten.div" in lines[4] and "aten.mul" not in str(err.value).split("supported:")[0]
    assert lines[5].startswith("supported: conv2d")
