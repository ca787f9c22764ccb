"""The fp32 baseline engine gives weights and biases their own learning rates: with the weight
rate at 0 a step moves only the biases, with the bias rate at 0 only the weights."""
import numpy as np
import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.training.engines import FloatEngine


@pytest.fixture(scope="module")
def setup():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    x = np.random.default_rng(0).integers(-128, 128, graph.input_shape).astype(np.int8)
    return graph, resolve_scheme("last-1", graph), x


@pytest.mark.parametrize("lr_weight,lr_bias", [(0.0, 0.01), (0.01, 0.0)])
def test_each_kind_moves_with_its_own_rate(setup, lr_weight, lr_bias):
    graph, scheme, x = setup
    engine = FloatEngine(graph, scheme)
    before = engine.params()
    engine.set_learning_rates(lr_weight, lr_bias)
    engine.train(x, 3)
    after = engine.params()
    moved = {name for name in before if not np.array_equal(before[name], after[name])}
    kinds = {name.rsplit(".", 1)[1] for name in moved}
    assert kinds == ({"bias"} if lr_weight == 0 else {"weight"})


def test_fp32_engine_mse_is_torch_mean_mse_and_its_gradient():
    """With the MSE loss the fp32 engine's loss is torch's MSELoss(reduction='mean') of the output
    against the float32 target, and an SGD step moves the output bias by lr * 2 (y - t) / n."""
    import torch
    from mse_autoencoder import int8_autoencoder

    graph, pairs = int8_autoencoder()
    head = graph.output
    scheme = resolve_scheme({"name": "head-bias", "n_bias_update": 0, "bias_layers": [head], "train_classifier": False},
                            graph, loss="mse", lr_weight=0.1, lr_bias=0.1)
    engine = FloatEngine(graph, scheme)
    x, target = pairs[0]
    y = engine.output(x)
    bias = engine.net.module(head).bias.detach().numpy().copy()
    loss = engine.train(x, target)
    expected = torch.nn.functional.mse_loss(torch.from_numpy(y), torch.from_numpy(target), reduction="mean")
    assert loss == pytest.approx(float(expected), rel=1e-6)
    moved = bias - engine.net.module(head).bias.detach().numpy()
    np.testing.assert_allclose(moved, 0.1 * 2 * (y - target) / y.size, rtol=1e-4, atol=1e-9)
