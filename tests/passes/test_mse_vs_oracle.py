"""The MSE loss (scheme key `loss`): add_loss's target input, and the Relax training step of a small
autoencoder against the independent PyTorch oracle, as test_training_vs_oracle.py does for the
cross-entropy: equal int8 forwards, the loss and every gradient to float32 summation order, updated
weights equal or one unit apart at rounding boundaries."""
import numpy as np
import pytest
from mse_autoencoder import int8_autoencoder

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.passes.add_loss import add_loss
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.relax_trainer import RelaxTrainer
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3


@pytest.fixture(scope="module")
def autoencoder():
    return int8_autoencoder(samples=STEPS)


def test_add_loss_takes_a_float_target_shaped_like_the_output(autoencoder):
    graph, _ = autoencoder
    mod, params = to_relax(graph, params_as_inputs=True)
    with_loss, _ = add_loss(mod, params, loss="mse")
    target = with_loss["main"].params[1]
    assert target.name == "target" and str(target.ty.dtype) == "float32"
    assert tuple(int(d) for d in target.ty.shape) == (1, graph.num_classes)
    assert [b.op for b in op_bindings(with_loss)][-2:] == ["dequantize", "mse"]
    with pytest.raises(TinyTrainError, match="unknown loss 'l1'"):
        add_loss(mod, params, loss="l1")


def test_scheme_refuses_an_unknown_loss(autoencoder):
    with pytest.raises(TinyTrainError, match="loss must be"):
        resolve_scheme("full", autoencoder[0], loss="huber")


@pytest.mark.parametrize("overrides", [{}, {"fp32_classifier": True, "momentum": 0.9}])
def test_relax_mse_step_matches_oracle(autoencoder, overrides):
    graph, pairs = autoencoder
    scheme = resolve_scheme("full", graph, loss="mse", lr_weight=0.5, lr_bias=0.5, **overrides)
    relax_side = RelaxTrainer(build_training(graph, scheme, return_grads=True))
    oracle = TorchTrainer(graph, scheme)
    losses, moved = [], 0
    for step, (x, target) in enumerate(pairs):
        before = {n: v.copy() for n, v in relax_side.params.items()}
        loss = relax_side.step(x, target, step)
        ref = oracle.step(x, target, step)
        assert abs(loss - ref.loss) <= 1e-5 * abs(ref.loss), (step, loss, ref.loss)
        assert set(relax_side.grads) == set(ref.grads) and ref.grads
        for name, grad in relax_side.grads.items():
            scale = max(np.abs(ref.grads[name]).max(), 1e-30)
            assert np.abs(grad - ref.grads[name]).max() <= 1e-5 * scale, name
        for name in relax_side.updated:
            value, expected = relax_side.params[name], ref.params[name]
            if value.dtype == np.float32:
                assert np.abs(value - expected).max() <= 1e-5 * max(np.abs(expected).max(), 1e-30), name
            else:
                assert np.abs(value.astype(np.int64) - expected.astype(np.int64)).max() <= 1, name
            moved += int(np.any(value != before[name]))
        oracle.load_params(relax_side.params)
        losses.append(loss)
    assert moved > 0  # the step trains something


def test_oracle_refuses_a_target_of_the_wrong_size(autoencoder):
    graph, pairs = autoencoder
    oracle = TorchTrainer(graph, resolve_scheme("full", graph, loss="mse"))
    with pytest.raises(TinyTrainError, match="MSE target must be 40 finite float32"):
        oracle.step(pairs[0][0], pairs[0][1][:10], 0)
