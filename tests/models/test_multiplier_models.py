"""Depthwise convs with a channel multiplier (groups = C_in, weight (m * C, 1, kh, kw)) on
models/multiplier_cnn.py (m = 2, stride 2): a scheme's k counts the conv's input channels (groups) and
trains the k * m rows they feed, in schemes, sparse_update, the PyTorch oracle, the fp32 baseline and
the step; the full weight and a slice train three ways (oracle == Relax == C on the host), the weight
gradient on the geometry kernel."""
import functools

import numpy as np
import pytest

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.float_model import FloatNet, sparse_parameters, trained_values
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.layer_table import layer_rows
from tvm_tinytrain.models import multiplier_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import main_attr
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import input_channels, resolve_scheme

pytestmark = pytest.mark.filterwarnings("ignore:.*dead output channels")  # random weights: said at quantization
STEPS = 3
DW = "features.3"
SLICE = Scheme("dw-half", bias=(DW,), weights={DW: 2, "features.6": 8})  # 2 of the 4 channels: rows 0..3


@functools.cache
def _case():
    """(int8 graph, int8 samples with labels)."""
    model, x = multiplier_cnn.build()
    graph = to_graph(from_torch(model, x, name="multiplier"))
    rng = np.random.default_rng(3)
    inputs = list(rng.standard_normal((24, *graph.input_shape)).astype(np.float32))
    qgraph = quantize(graph, inputs[:20], progress=False)
    return qgraph, [(quantize_input(qgraph, x)[0], i % 5) for i, x in enumerate(inputs[20:])]


def test_the_model_has_a_depthwise_conv_with_multiplier_two():
    """... and inspect shows it as one (conv2d/dw3x3/m2)."""
    graph = _case()[0]
    layer = graph.layer(DW)
    assert layer.attrs["groups"] == 4 and layer.params["weight"].shape == (8, 1, 3, 3)
    assert [row["op"] for row in layer_rows(graph) if row["op"].startswith("conv2d")] == \
        ["conv2d", "conv2d/dw3x3/m2", "conv2d"]


def test_k_counts_the_input_channels_and_trains_the_rows_they_feed():
    """schemes: C_in is groups (4), a ratio 0.5 is k 2; the oracle's gradient, the step's grad_info and the
    fp32 baseline's mask all cover rows [:k * m] = [:4]; k 5 is refused naming the 4."""
    qgraph, samples = _case()
    assert input_channels(qgraph.layer(DW)) == 4
    spec = {"weight_layers": [DW], "weight_ratios": [0.5], "train_classifier": False}
    assert resolve_scheme(spec, qgraph).weights == {DW: 2}
    grads = TorchTrainer(qgraph, SLICE).step(samples[0][0], samples[0][1], 0).grads
    assert grads[f"{DW}.weight"].shape == (4, 1, 3, 3)
    info = main_attr(build_training(qgraph, SLICE, return_grads=True).mod, "tt.grad_info")[f"{DW}.weight"]
    assert info["k"] == 4 and info["depthwise"] == 1
    net = FloatNet(qgraph)
    for p in sparse_parameters(net, SLICE):
        p.sum().backward()
    grad = net.module(DW).weight.grad
    assert grad[:4].eq(1).all() and not grad[4:].any()
    assert trained_values(net, SLICE) == sum(g.size for g in grads.values())
    with pytest.raises(TinyTrainError, match="which has 4"):
        build_training(qgraph, Scheme("bad", weights={DW: 5}))


def test_full_training_step_three_ways(tmp_path):
    """Every layer trained: the multiplier conv's whole weight (8 rows) through the geometry kernel."""
    qgraph, samples = _case()
    scheme = resolve_scheme("full", qgraph)
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)
    assert "tt_conv2d_geom_grad_weight_f32(" in (tmp_path / "model.c").read_text()


def test_channel_slice_step_three_ways(tmp_path):
    """2 of the 4 input channels: rows 0..3 of the (8, 1, 3, 3) weight train, rows 4..7 stay."""
    qgraph, samples = _case()
    relax_matches_oracle(qgraph, SLICE, samples[:STEPS])
    c_params = c_matches_relax(qgraph, SLICE, samples[:STEPS], tmp_path)
    before = qgraph.layer(DW).params["weight"]
    np.testing.assert_array_equal(c_params[f"{DW}.weight"][4:], before[4:])
    assert (c_params[f"{DW}.weight"][:4] != before[:4]).any()
