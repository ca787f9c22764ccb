"""MLPerf Tiny's anomaly-detection autoencoder, scaled down, for on-device MSE training.

The reference model is 640 -> 128 -> 128 -> 128 -> 128 -> 8 -> 128 x 4 -> 640 fully connected
layers with BatchNorm1d and ReLU on 5 frames of 128 log-mel bins. This one keeps its shape
(640 -> 128 -> 128 -> 8 -> 128 -> 128 -> 640, ReLU between, a linear bottleneck and output) and
leaves BatchNorm1d out (not in the layer graph yet). Input: 5 stacked frames of 128 log-mel
bins as one (1, 5, 128) plane (the frontend takes (C, H, W) inputs), flattened; the output
(640 values) reconstructs the input.
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (1, 5, 128)
WIDTHS = (640, 128, 128, 8, 128, 128, 640)


class AnomalyAE(nn.Module):
    def __init__(self, widths=WIDTHS):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if 0 < i + 1 < len(widths) - 1 and b != min(widths):  # ReLU after hidden layers, not the bottleneck
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


def build(seed: int = 0, widths=WIDTHS, input_shape=INPUT_SHAPE):
    """(model in eval mode with seeded random weights, a 1 x `input_shape` input)."""
    return randomize_(AnomalyAE(widths), seed), example_input((1, *input_shape), seed)
