"""A small int8 autoencoder (models/anomaly_ae.py's shape, scaled down) and its samples, for the
MSE loss's tests: quantized on N(0, 1) frames, the target of each sample is the sample itself."""
import numpy as np

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.anomaly_ae import build
from tvm_tinytrain.quantization.ptq import quantize, quantize_input

WIDTHS, INPUT_SHAPE = (40, 16, 4, 16, 40), (1, 5, 8)


def int8_autoencoder(seed: int = 0, samples: int = 4):
    """(int8 graph, [(int8 input, float32 target = the real value of that input)])."""
    model, x = build(seed=seed, widths=WIDTHS, input_shape=INPUT_SHAPE)
    rng = np.random.default_rng(seed)
    frames = [rng.standard_normal(INPUT_SHAPE).astype(np.float32) for _ in range(32)]
    graph = quantize(to_graph(from_torch(model, x, name="ae")), frames, progress=False)
    q = graph.input_q
    pairs = []
    for frame in frames[:samples]:
        x_q = quantize_input(graph, frame)
        pairs.append((x_q, (np.float32(q.scale) * (x_q.astype(np.float32) - np.float32(q.zero))).reshape(-1)))
    return graph, pairs
