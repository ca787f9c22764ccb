"""A small inception-style CNN: a stem, then one block whose 1x1, 3x3 (after a 1x1 reduction) and
pooled (3x3 max pool, then 1x1) branches are joined along channels (torch.cat, the `concat` layer),
a 1x1 conv over the join, the global pool and a classifier. Input (3, 16, 16).

No U-Net-style join: it needs upsampling, which the layer graph does not have."""
import torch
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 16, 16)


def conv_bn_relu(cin, cout, k=1, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class InceptionCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = conv_bn_relu(3, 8, 3, 2)                                          # 16x16 -> 8x8
        self.branch1 = conv_bn_relu(8, 6)
        self.branch3 = nn.Sequential(conv_bn_relu(8, 4), conv_bn_relu(4, 6, 3))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn_relu(8, 4))
        self.mix = conv_bn_relu(16, 12)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(12, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.branch1(x), self.branch3(x), self.branch_pool(x)], 1)
        return self.classifier(self.pool(self.mix(x)).flatten(1))


def build(num_classes: int = 10, seed: int = 1):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x16x16 input); seed 1 leaves
    no output channel dead on CIFAR-10."""
    return randomize_(InceptionCNN(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
