"""ResNet-8 as in the MLPerf Tiny image-classification benchmark (CIFAR-10, 32x32).

A user's ResNet rather than one of the paper's backbones: a 3x3 stem and three residual
stacks (16, 32, 64 channels; the last two downsample with a strided conv and a 1x1 conv + BN
shortcut), global average pool, linear.  About 78k parameters and 12.5M MACs.
"""
from torch import nn

from ._random import example_input, randomize_
from .tiny_resnet import BasicBlock

INPUT_SHAPE = (3, 32, 32)


class ResNet8(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stack1 = BasicBlock(16, 16, 1)
        self.stack2 = BasicBlock(16, 32, 2)
        self.stack3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.classifier(self.pool(x).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x32x32 input)."""
    return randomize_(ResNet8(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
