"""MobileNetV2-w0.35 in fp32 with exactly the layout of the paper's int8 backbone.

The table below was read once from `weights/tiny-training-int8/mbv2-w0.35.json`
(17 blocks, no feature-mix conv, 112 -> classes classifier, 128x128 input), so the
fp32 path and the int8 path compile the same graph.  Module paths mirror the json:
`first_conv`, `blocks.<i>.pointwise1|depthwise|pointwise2`, `classifier`.
"""
from torch import nn

from ..errors import TinyTrainError
from ._random import example_input, randomize_

FIRST_CONV = (3, 16, 3, 2)  # in, out, kernel, stride

# in, expanded (None: no pointwise1), out, kernel, stride, residual
BLOCKS = (
    (16, None, 8, 3, 1, False),   # 0   64x64
    (8, 48, 8, 3, 2, False),      # 1   -> 32x32
    (8, 48, 8, 3, 1, True),       # 2
    (8, 48, 16, 3, 2, False),     # 3   -> 16x16
    (16, 96, 16, 3, 1, True),     # 4
    (16, 96, 16, 3, 1, True),     # 5
    (16, 96, 24, 3, 2, False),    # 6   -> 8x8
    (24, 144, 24, 3, 1, True),    # 7
    (24, 144, 24, 3, 1, True),    # 8
    (24, 144, 24, 3, 1, True),    # 9
    (24, 144, 32, 3, 1, False),   # 10
    (32, 192, 32, 3, 1, True),    # 11
    (32, 192, 32, 3, 1, True),    # 12
    (32, 192, 56, 3, 2, False),   # 13  -> 4x4
    (56, 336, 56, 3, 1, True),    # 14
    (56, 336, 56, 3, 1, True),    # 15
    (56, 336, 112, 3, 1, False),  # 16
)
LAST_CHANNELS = 112


def conv_bn(cin, cout, kernel, stride=1, groups=1, relu6=True) -> nn.Sequential:
    """Conv2d(no bias) + BatchNorm2d [+ ReLU6], zero padding k//2 like the int8 model."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """[pointwise1 expand] -> depthwise -> pointwise2 project (linear), + input if `residual`."""

    def __init__(self, cin, expanded, cout, kernel, stride, residual):
        super().__init__()
        hidden = expanded or cin
        self.pointwise1 = conv_bn(cin, hidden, 1) if expanded else None
        self.depthwise = conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.pointwise2 = conv_bn(hidden, cout, 1, relu6=False)
        self.residual = residual

    def forward(self, x):
        y = x if self.pointwise1 is None else self.pointwise1(x)
        y = self.pointwise2(self.depthwise(y))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        cin, cout, k, s = FIRST_CONV
        self.first_conv = conv_bn(cin, cout, k, s)
        self.blocks = nn.Sequential(*(InvertedResidual(*row) for row in BLOCKS))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(LAST_CHANNELS, num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.first_conv(x)))
        return self.classifier(x.flatten(1))


def mobilenet_v2(num_classes: int = 1000, width: float = 0.35) -> MobileNetV2:
    """The paper's MobileNetV2 backbone; only width 0.35 has an int8 counterpart, so only it exists."""
    if width != 0.35:
        raise TinyTrainError(f"mobilenet_v2: width {width} is not available; only 0.35 (the paper's "
                             f"mbv2-w0.35 int8 backbone) is defined")
    return MobileNetV2(num_classes)


def build(num_classes: int = 1000, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x128x128 input)."""
    return randomize_(mobilenet_v2(num_classes), seed), example_input((1, 3, 128, 128), seed)
