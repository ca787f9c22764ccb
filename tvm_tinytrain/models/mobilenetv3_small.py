"""A MobileNetV3-small-style net in fp32 (torch only): the eleven inverted residual blocks of
MobileNetV3-small (Howard et al. 2019, Table 2) with Hardswish, squeeze-and-excitation gated by
Hardsigmoid and residual adds, at width 0.25 so a 64x64 (or larger) input trains within a
Cortex-M7's SRAM. Every layer is one the toolchain imports: SE is AdaptiveAvgPool2d(1) -> 1x1 conv
-> ReLU -> 1x1 conv -> Hardsigmoid -> x * gate (the `mul` layer)."""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 64, 64)
WIDTH = 0.25
# kernel, expanded, out, SE, Hardswish (else ReLU), stride: MobileNetV3-small at width 1
BLOCKS = (
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
)
LAST_CONV, HIDDEN = 576, 1024


def scaled(channels: float, divisor: int = 8) -> int:
    """The width-scaled channel count, a multiple of `divisor` (MobileNet's make_divisible)."""
    value = max(divisor, int(channels * WIDTH + divisor / 2) // divisor * divisor)
    return value + divisor if value < 0.9 * channels * WIDTH else value


def conv_bn_act(cin, cout, kernel, stride=1, groups=1, act=nn.Hardswish) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """x * hardsigmoid(conv(relu(conv(avgpool(x))))): a per-channel gate from the block's own features."""

    def __init__(self, channels: int):
        super().__init__()
        squeeze = scaled(channels / WIDTH / 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, kernel, expanded, cout, se, hardswish, stride):
        super().__init__()
        act = nn.Hardswish if hardswish else nn.ReLU
        layers = [] if expanded == cin else [conv_bn_act(cin, expanded, 1, act=act)]
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if se:
            layers.append(SqueezeExcite(expanded))
        layers.append(conv_bn_act(expanded, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3Small(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        cin = scaled(16)
        layers = [conv_bn_act(3, cin, 3, 2)]
        for kernel, expanded, cout, se, hardswish, stride in BLOCKS:
            layers.append(InvertedResidual(cin, kernel, scaled(expanded), scaled(cout), se, hardswish, stride))
            cin = scaled(cout)
        layers.append(conv_bn_act(cin, scaled(LAST_CONV), 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(scaled(LAST_CONV), scaled(HIDDEN)), nn.Hardswish(),
                                        nn.Dropout(0.2), nn.Linear(scaled(HIDDEN), num_classes))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 10, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x64x64 input)."""
    return randomize_(MobileNetV3Small(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
