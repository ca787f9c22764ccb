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
