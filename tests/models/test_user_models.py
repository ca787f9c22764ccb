"""The user-model zoo of benchmarks/user_models.py (ResNet-8, MLP head, 1-D temporal CNN, small VGG):
deterministic build(), heads of any size, and the layer graph each imports to, equal to torch."""
import importlib

import numpy as np
import pytest
import torch

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.reference import run_float

OPS = {
    "resnet8": ["conv2d"] * 3 + ["add"] + ["conv2d"] * 3 + ["add"] + ["conv2d"] * 3 + ["add", "avgpool", "flatten",
                                                                                         "linear"],
    "mlp_head_cnn": ["conv2d", "maxpool", "conv2d", "maxpool", "conv2d", "flatten", "linear", "linear"],
    "temporal_cnn": ["conv2d"] * 4 + ["avgpool", "flatten", "linear"],
    "vgg_small": ["conv2d", "conv2d", "maxpool"] * 3 + ["avgpool", "flatten", "linear"],
    "pooled_cnn": ["conv2d", "maxpool", "conv2d", "avgpool", "conv2d", "avgpool", "avgpool", "flatten", "linear"],
    "inception": ["conv2d"] * 4 + ["maxpool", "conv2d", "concat", "conv2d", "avgpool", "flatten", "linear"],
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_build_heads_and_layer_graph(name):
    module = importlib.import_module(f"tvm_tinytrain.models.{name}")
    (m1, x1), (m2, x2) = module.build(num_classes=7, seed=1), module.build(num_classes=7, seed=1)
    assert torch.equal(x1, x2) and x1.shape == (1, *module.INPUT_SHAPE) and not m1.training
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    with torch.no_grad():
        logits = m1(x1).numpy()[0]
    assert logits.shape == (7,)
    graph = to_graph(from_torch(m1, x1, name=name))
    ops = [l.op for l in graph.layers]
    assert (sorted(ops) == sorted(OPS[name])) if name == "resnet8" else ops == OPS[name]  # shortcut order free
    assert graph.num_classes == 7 and tuple(graph.input_shape) == module.INPUT_SHAPE
    np.testing.assert_allclose(run_float(graph, x1.numpy()[0]), logits, atol=1e-3, rtol=1e-3)


def test_temporal_cnn_runs_along_time_only():
    """A (C, 1, L) input keeps height 1 through every conv: the 3x3 kernels act as 1-D kernels of 3."""
    from tvm_tinytrain.models.temporal_cnn import build

    model, x = build()
    with torch.no_grad():
        assert model.features(x).shape == (1, 64, 1, 13)
        far_rows = model.features[0][0].weight.clone()
        far_rows[:, :, 1] = 0  # only the middle kernel row ever sees data
        model.features[0][0].weight.data -= far_rows
        assert torch.equal(model(x), build()[0](x))
