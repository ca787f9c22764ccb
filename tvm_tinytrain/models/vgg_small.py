"""A small VGG-style net: stacks of two 3x3 conv + BN + ReLU, each followed by 2x2 max pooling,
then a global average pool and a linear classifier.  Dense 3x3 convs only (no depthwise), the
opposite of the paper's MobileNet-style backbones.  Input: one 28x28 channel (Fashion-MNIST).
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (1, 28, 28)
STAGES = ((1, 16), (16, 32), (32, 48))  # 28 -> 14 -> 7 -> 3


def stage(cin, cout):
    layers = []
    for c in (cin, cout):
        layers += [nn.Conv2d(c, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))


class VGGSmall(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(*(stage(*row) for row in STAGES))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(STAGES[-1][1], num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x1x28x28 input)."""
    return randomize_(VGGSmall(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
