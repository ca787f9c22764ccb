"""fold_batchnorm: conv2d [+ bias] + inference batch norm -> conv2d + bias, names kept."""
import numpy as np
import pytest
import torch
from torch import nn

import tvm_tinytrain.passes.fold_batchnorm as fold_module
from tvm_tinytrain import _tvm
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.passes.fold_batchnorm import fold_batchnorm


def _randomize_bn(bn: nn.BatchNorm2d, seed: int):
    g = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=g) * 0.3)
        bn.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
        bn.running_var.copy_(torch.rand(n, generator=g) * 1.8 + 0.2)
    return bn


class ConvBN(nn.Module):
    """c (3x3, optional bias) + bn + ReLU, then d (1x1) + bn2 as the model output."""

    def __init__(self, bias: bool):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.Conv2d(3, 8, 3, padding=1, bias=bias)
        self.bn = _randomize_bn(nn.BatchNorm2d(8), 1)
        self.d = nn.Conv2d(8, 4, 1, bias=False)
        self.bn2 = _randomize_bn(nn.BatchNorm2d(4, eps=1e-3), 2)

    def forward(self, x):
        return self.bn2(self.d(torch.relu(self.bn(self.c(x)))))


class InputBN(nn.Module):
    """A batch norm on the input (nothing to fold it into), then conv + BN."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.bn0 = _randomize_bn(nn.BatchNorm2d(3), 3)
        self.c = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = _randomize_bn(nn.BatchNorm2d(4), 4)

    def forward(self, x):
        return self.bn(self.c(self.bn0(x)))


class SharedConvOutput(nn.Module):
    """The conv output is used by the BN and by the add: folding would change the add."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.c = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = _randomize_bn(nn.BatchNorm2d(4), 5)

    def forward(self, x):
        y = self.c(x)
        return self.bn(y) + y


@pytest.fixture(scope="module")
def images():
    return np.stack([to_float_input(img) for img in load_cifar10("test", per_class=1)[0][:3]])


def _unfolded(model, x):
    """from_torch with the folding step switched off: the module as TVM's importer gives it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fold_module, "fold_batchnorm", lambda mod, params: (mod, params))
        return from_torch(model.eval(), x)


def _run(mod, params, x):
    return _tvm.build(mod)(x, *[params[p.name] for p in mod["main"].params[1:]])


def _torch(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _count_bn(mod):
    return mod.script().count("R.nn.batch_norm(")


@pytest.mark.parametrize("bias", [False, True])
def test_fold_preserves_outputs(bias, images):
    model = ConvBN(bias)
    rm = _unfolded(model, torch.from_numpy(images[:1]))
    assert _count_bn(rm.mod) == 2 and {"bn.weight", "bn.bias", "bn2.weight"} <= set(rm.params)
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert _count_bn(mod) == 0
    for x in images:
        x = x[None]
        before, after, ref = _run(rm.mod, rm.params, x), _run(mod, params, x), _torch(model, x)
        assert np.abs(before - ref).max() < 1e-4  # the unfolded module is the right baseline
        assert np.abs(after - before).max() < 1e-5 * max(1.0, np.abs(before).max())
        assert np.abs(after - ref).max() < 1e-4
    _tvm.relax.analysis.well_formed(mod)  # also when the folded BN is the function's result


@pytest.mark.parametrize("bias", [False, True])
def test_bias_names_and_values(bias):
    model = ConvBN(bias)
    rm = _unfolded(model, torch.zeros(1, 3, 8, 8))
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert set(params) == {"c.weight", "c.bias", "d.weight", "d.bias"}
    assert sorted(p.name for p in mod["main"].params[1:]) == sorted(params)
    assert mod["main"].params[0].name == "x"
    for conv, bn in ((model.c, model.bn), (model.d, model.bn2)):
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
        old_bias = conv.bias.detach().numpy() if conv.bias is not None else 0.0
        name = "c" if conv is model.c else "d"
        np.testing.assert_allclose(params[f"{name}.weight"],
                                   conv.weight.detach().numpy() * scale[:, None, None, None], rtol=1e-6)
        np.testing.assert_allclose(params[f"{name}.bias"],
                                   (old_bias - bn.running_mean.numpy()) * scale + bn.bias.detach().numpy(),
                                   rtol=1e-5, atol=1e-7)
        assert params[f"{name}.bias"].shape == (conv.out_channels,)
        assert params[f"{name}.bias"].dtype == np.float32


def test_inputs_are_not_modified():
    rm = _unfolded(ConvBN(False), torch.zeros(1, 3, 8, 8))
    saved = {k: v.copy() for k, v in rm.params.items()}
    script = rm.mod.script()
    main = rm.mod["main"]
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert params is not rm.params and set(rm.params) == set(saved)
    for k, v in saved.items():
        np.testing.assert_array_equal(rm.params[k], v)
    assert rm.mod["main"].same_as(main) and rm.mod.script() == script
    assert _count_bn(rm.mod) == 2 and _count_bn(mod) == 0


def test_batch_norm_on_the_input_stays(images):
    model = InputBN()
    rm = _unfolded(model, torch.from_numpy(images[:1]))
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert _count_bn(mod) == 1
    assert {"bn0.weight", "bn0.bias", "c.weight", "c.bias"} == set(params)
    x = images[1:2]
    assert np.abs(_run(mod, params, x) - _torch(model, x)).max() < 1e-4
    # from_torch folds the same way (and keeps the input BN for to_graph to report)
    assert _count_bn(from_torch(model, torch.from_numpy(x)).mod) == 1


def test_conv_output_with_another_use_stays(images):
    model = SharedConvOutput()
    rm = _unfolded(model, torch.from_numpy(images[:1]))
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert _count_bn(mod) == 1 and set(params) == set(rm.params)
    x = images[2:3]
    assert np.abs(_run(mod, params, x) - _torch(model, x)).max() < 1e-4


def test_no_batch_norm_is_a_no_op():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    rm = from_torch(model, torch.zeros(1, 3, 8, 8))
    mod, params = fold_batchnorm(rm.mod, rm.params)
    assert mod.script() == rm.mod.script() and set(params) == {"0.weight", "0.bias"}


# -- hand-built modules ------------------------------------------------------------------------

def _hand_built(training=False, weight_name="c.weight", extra_param=None):
    """x -> conv2d(x, W) -> batch_norm -> [0] [+ extra_param]."""
    rng = np.random.default_rng(0)
    params = {weight_name: rng.normal(size=(4, 3, 1, 1)).astype(np.float32),
              "g": rng.uniform(0.5, 1.5, 4).astype(np.float32), "b": rng.normal(size=4).astype(np.float32),
              "m": rng.normal(size=4).astype(np.float32), "v": rng.uniform(0.5, 1.5, 4).astype(np.float32)}
    if extra_param:
        params[extra_param] = rng.normal(size=(1, 4, 1, 1)).astype(np.float32)
    x = relax.Var("x", tensor_type((1, 3, 4, 4), "float32"))
    pvars = {k: relax.Var(k, tensor_type(v.shape, "float32")) for k, v in params.items()}
    bb = relax.BlockBuilder()
    with bb.function("main", [x, *pvars.values()]):
        with bb.dataflow():
            conv = bb.emit(relax.op.nn.conv2d(x, pvars[weight_name]))
            bn = bb.emit(relax.op.nn.batch_norm(conv, pvars["g"], pvars["b"], pvars["m"], pvars["v"], axis=1,
                                                training=training))
            y = bb.emit(relax.TupleGetItem(bn, 0))
            if extra_param:
                y = bb.emit(relax.op.add(y, pvars[extra_param]))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get(), params


def test_hand_built_fold_and_bias_name_rule():
    mod, params = _hand_built(weight_name="w")  # a name without '.weight' gets '.bias' appended
    folded, new_params = fold_batchnorm(mod, params)
    assert set(new_params) == {"w", "w.bias"}
    x = np.random.default_rng(1).normal(size=(1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(folded, new_params, x), _run(mod, params, x), rtol=1e-5, atol=1e-5)


def test_training_mode_batch_norm_is_an_error():
    mod, params = _hand_built(training=True)
    with pytest.raises(TinyTrainError, match="training mode"):
        fold_batchnorm(mod, params)


def test_bias_name_taken_is_an_error():
    mod, params = _hand_built(extra_param="c.bias")
    with pytest.raises(TinyTrainError, match="'c.bias'"):
        fold_batchnorm(mod, params)
