"""A small net with grouped convs (1 < groups < channels), as ShuffleNet / ResNeXt-style blocks have.

`GroupedCNN` (input (3, 16, 16)): a 3x3 conv, a grouped 3x3 (groups 2, stride 2), a grouped 1x1
(groups 4, 8 -> 16 channels, no activation), then a global pool and a classifier.
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 16, 16)


class GroupedCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),                  # 16x16
            nn.Conv2d(8, 8, 3, 2, 1, groups=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),        # 8x8
            nn.Conv2d(8, 16, 1, groups=4, bias=False), nn.BatchNorm2d(16))  # 8x8, no ReLU: with 2 inputs per
        # group, each output of random weights would be dead (always <= 0) one time in four
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(GroupedCNN in eval mode with seeded random weights and BN statistics, 1x3x16x16 input)."""
    return randomize_(GroupedCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
