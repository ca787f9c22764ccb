"""A small ResNet for 32x32 inputs, not in the int8 zoo.

It checks that the toolchain is not tailored to MobileNet: 3x3 dense convs,
max pooling, a ReLU after the residual add and a 1x1 conv+BN downsample shortcut.
"""
from torch import nn

from ._random import example_input, randomize_


class BasicBlock(nn.Module):
    """conv3x3+BN+ReLU, conv3x3+BN, + shortcut, ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(y + shortcut)


class TinyResNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.maxpool(self.stem(x))))
        return self.classifier(self.pool(x).flatten(1))


def tiny_resnet(num_classes: int = 10) -> TinyResNet:
    return TinyResNet(num_classes)


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x32x32 input)."""
    return randomize_(tiny_resnet(num_classes), seed), example_input((1, 3, 32, 32), seed)
