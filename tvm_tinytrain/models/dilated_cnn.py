"""Two small nets with the conv geometries of dilated TCN / ECG / KWS and (2, 1)-strided audio models.

`DilatedCNN` (input (3, 16, 16)): a dilated 3x3 conv, a depthwise 3x3 with dilation (2, 1) and
stride (1, 2), a (2, 1)-strided conv, then a global pool and a classifier. `DilatedTCN` (input
(8, 32), a Conv1d stack): dilations 2 and 4, a depthwise Conv1d with dilation 2 and a strided one.
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE_2D = (3, 16, 16)
INPUT_SHAPE_1D = (8, 32)


class DilatedCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 2, dilation=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),            # 16x16
            nn.Conv2d(8, 8, 3, (1, 2), (2, 1), dilation=(2, 1), groups=8, bias=False), nn.BatchNorm2d(8),
            nn.ReLU(),                                                                                 # 16x8
            nn.Conv2d(8, 12, (3, 1), (2, 1), (1, 0), bias=False), nn.BatchNorm2d(12), nn.ReLU())       # 8x8
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(12, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class DilatedTCN(nn.Module):
    def __init__(self, num_classes: int = 6):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(8, 12, 3, 1, 2, dilation=2, bias=False), nn.BatchNorm1d(12), nn.ReLU(),       # 32
            nn.Conv1d(12, 12, 3, 1, 4, dilation=4, groups=12, bias=False), nn.BatchNorm1d(12), nn.ReLU(),
            nn.Conv1d(12, 16, 3, 2, 4, dilation=4, bias=False), nn.BatchNorm1d(16), nn.ReLU())     # 16
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(DilatedCNN in eval mode with seeded random weights and BN statistics, 1x3x16x16 input)."""
    return randomize_(DilatedCNN(num_classes), seed), example_input((1, *INPUT_SHAPE_2D), seed)


def build_1d(num_classes: int = 6, seed: int = 0):
    """(DilatedTCN in eval mode with seeded random weights and BN statistics, 1x8x32 input)."""
    return randomize_(DilatedTCN(num_classes), seed), example_input((1, *INPUT_SHAPE_1D), seed)
