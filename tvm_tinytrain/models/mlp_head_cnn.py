"""A small CNN with an MLP head: conv features -> flatten -> linear -> ReLU -> linear.

The head most tutorials write (LeNet-like) instead of a global pool: the flatten keeps the
spatial layout, so the first linear layer is the largest tensor (392 x 64).  Input: one
28x28 channel (MNIST / Fashion-MNIST).
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (1, 28, 28)


def conv_bn_relu(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class MLPHeadCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(conv_bn_relu(1, 16), nn.MaxPool2d(2, 2),     # 16 x 14 x 14
                                      conv_bn_relu(16, 32), nn.MaxPool2d(2, 2),    # 32 x 7 x 7
                                      conv_bn_relu(32, 8, 1))                      # 8 x 7 x 7
        self.hidden = nn.Linear(8 * 7 * 7, 64)
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.classifier(self.relu(self.hidden(self.features(x).flatten(1))))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x1x28x28 input)."""
    return randomize_(MLPHeadCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
