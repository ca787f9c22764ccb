"""A 1-D temporal CNN for sensor sequences, laid out as (C, 1, L) because the toolchain's
convolutions are 2-D with equal strides along H and W.

TC-ResNet-like (Choi et al., 2019) without the residuals: the 40 log-mel bands of a clip are
the input channels and its 49 frames the length, so every kernel runs along time only.  A
kernel of 3x3 with padding 1 on a height-1 map is a 1-D kernel of 3 (rows 0 and 2 only ever
see padding), which keeps strides equal along H and W.  Input (40, 1, 49).
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (40, 1, 49)
LAYERS = ((40, 32, 1), (32, 48, 2), (48, 48, 1), (48, 64, 2))  # in, out, stride: 49 -> 25 -> 13


def conv_bn_relu(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class TemporalCNN(nn.Module):
    def __init__(self, num_classes: int = 12):
        super().__init__()
        self.features = nn.Sequential(*(conv_bn_relu(*row) for row in LAYERS))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(LAYERS[-1][1], num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 12, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x40x1x49 input)."""
    return randomize_(TemporalCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
