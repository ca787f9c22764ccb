"""MobileNetV1 at width 0.25, MLPerf Tiny's visual-wake-words network (Howard et al. 2017; the
benchmark's Keras `MobileNet(alpha=0.25)`) in fp32 torch: a 3x3 stride-2 conv, then 13
depthwise-separable blocks (3x3 depthwise + BN + ReLU6, 1x1 pointwise + BN + ReLU6), global
average pool and a linear classifier; about 0.22M parameters and 7.5M MACs at 96x96.

The input is MLPerf's 96x96 RGB: its largest activation (16 x 48 x 48 int8) is 36 KB, so
training fits a Cortex-M7's 320 KB.  Padding is symmetric (k // 2) where Keras pads stride-2
layers on the bottom/right only; the output sizes are the same.  Module paths follow the
MobileNetV2 model (`first_conv`, `blocks.<i>.depthwise|pointwise`, `classifier`).
"""
from torch import nn

from ._random import example_input, randomize_
from .kws_cnn import SeparableBlock
from .mobilenetv2 import conv_bn

INPUT_SHAPE = (3, 96, 96)
WIDTH = 0.25
FIRST_CONV = (3, 32, 3, 2)  # in, out (at width 1), kernel, stride: 96x96 -> 48x48
# out channels at width 1, stride of the depthwise conv
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def scaled(channels: int) -> int:
    return int(channels * WIDTH)


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        cin, cout, k, s = FIRST_CONV
        cin = scaled(cout)
        self.first_conv = conv_bn(3, cin, k, s)
        blocks = []
        for cout, stride in BLOCKS:
            blocks.append(SeparableBlock(cin, scaled(cout), stride))
            cin = scaled(cout)
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.blocks(self.first_conv(x))).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x96x96 input)."""
    return randomize_(MobileNetV1(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
