"""KWSNet: a depthwise-separable keyword-spotting CNN sized for a microcontroller.

DS-CNN-like (Zhang et al., "Hello Edge", 2017) but built only from layers the toolchain
imports, quantizes and trains: square 3x3 kernels with equal strides, conv + BN + ReLU6,
global average pool, linear.  Input: the log-mel features of data/logmel.py, (1, 49, 40)
= 1 s of 16 kHz audio.  About 22k parameters and 2.9M MACs; the largest activation
(32 x 25 x 20 int8) is 16 KB.  Module paths follow the MobileNetV2 model (`first_conv`,
`blocks.<i>.depthwise|pointwise`, `classifier`).
"""
from torch import nn

from ._random import example_input, randomize_
from .mobilenetv2 import conv_bn

INPUT_SHAPE = (1, 49, 40)
FIRST_CONV = (1, 32, 3, 2)  # in, out, kernel, stride: 49x40 -> 25x20
BLOCKS = ((32, 64, 2),      # in, out, stride: -> 13x10
          (64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 64, 1))
LAST_CHANNELS = 64


class SeparableBlock(nn.Module):
    """3x3 depthwise conv + BN + ReLU6, then 1x1 pointwise conv + BN + ReLU6."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.depthwise = conv_bn(cin, cin, 3, stride, groups=cin)
        self.pointwise = conv_bn(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class KWSNet(nn.Module):
    def __init__(self, num_classes: int = 12):
        super().__init__()
        cin, cout, k, s = FIRST_CONV
        self.first_conv = conv_bn(cin, cout, k, s)
        self.blocks = nn.Sequential(*(SeparableBlock(*row) for row in BLOCKS))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(LAST_CHANNELS, num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.first_conv(x))).flatten(1)
        return self.classifier(self.dropout(x))


def kws_cnn(num_classes: int = 12) -> KWSNet:
    return KWSNet(num_classes)


def build(num_classes: int = 12, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x1x49x40 input)."""
    return randomize_(kws_cnn(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
