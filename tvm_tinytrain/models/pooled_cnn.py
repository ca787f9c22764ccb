"""A small CNN with every kind of local pooling the toolchain takes: a non-square strided max pool
with asymmetric stride, a padded average pool (torch's count_include_pad), an AdaptiveAvgPool2d
to a size dividing its input, then the global pool. Input (3, 16, 16)."""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 16, 16)


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class PooledCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.block1 = conv_bn_relu(3, 8)
        self.pool1 = nn.MaxPool2d((2, 3), (2, 1), (1, 1))        # 16x16 -> 9x16
        self.block2 = conv_bn_relu(8, 12)
        self.pool2 = nn.AvgPool2d(3, 2, 1)                        # 9x16 -> 5x8, padding counted
        self.block3 = conv_bn_relu(12, 16)
        self.pool3 = nn.AdaptiveAvgPool2d((5, 4))                 # 5x8 -> 5x4: kernel = stride = (1, 2)
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.pool2(self.block2(self.pool1(self.block1(x))))
        return self.classifier(self.pool4(self.pool3(self.block3(x))).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x16x16 input)."""
    return randomize_(PooledCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
