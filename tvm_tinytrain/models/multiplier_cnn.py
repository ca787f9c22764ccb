"""A small net with a depthwise conv that has a channel multiplier (groups = C_in, C_out = 2 * C_in),
as MobileNet-style "depth multiplier" layers and some keyword-spotting nets have.

`MultiplierCNN` (input (3, 12, 12)): a 3x3 conv (3 -> 4), a 3x3 depthwise conv with multiplier 2
(groups 4, 4 -> 8 channels, weight (8, 1, 3, 3), stride 2), a 1x1 conv, then a global pool and a
classifier.
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 12, 12)


class MultiplierCNN(nn.Module):
    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),                  # 12x12
            nn.Conv2d(4, 8, 3, 2, 1, groups=4, bias=False), nn.BatchNorm2d(8), nn.ReLU(),        # 6x6
            nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 5, seed: int = 0):
    """(MultiplierCNN in eval mode with seeded random weights and BN statistics, 1x3x12x12 input)."""
    return randomize_(MultiplierCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
