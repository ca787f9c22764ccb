"""Shared by the streamed-input tests: a small CNN whose stem is a conv -> depthwise -> 1x1 chain (the
backbones' stem, at 3 x 21 x 18: odd sizes, the first conv stride 2), then one more depthwise-separable
block, global pooling and a classifier; its torch-imported int8 graph and seeded int8 samples."""
import numpy as np
import torch
from torch import nn

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models._random import randomize_
from tvm_tinytrain.models.mobilenetv2 import conv_bn
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.scheme import Scheme

SHAPE = (3, 21, 18)
TALL = (3, 45, 18)  # a stem output (6 x 23 x 9) larger than the stem's scratch: worth pulling by rows
# the last block and the classifier train: the stem stays frozen, so its input can arrive in rows
STEM_FROZEN = Scheme("stem-frozen", bias=("block.1.0", "block.2.0", "classifier"),
                     weights={"block.2.0": 6, "classifier": 12})
# only the classifier trains: the stem's output has one reader, the frozen fused block, which pulls its rows
BLOCKS_FROZEN = Scheme("blocks-frozen", bias=("classifier",), weights={"classifier": 12})


class StemCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 3, 2), conv_bn(8, 8, 3, groups=8), conv_bn(8, 6, 1, relu6=False))
        self.block = nn.Sequential(conv_bn(6, 12, 1), conv_bn(12, 12, 3, 2, groups=12), conv_bn(12, 12, 1, relu6=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(12, 5)

    def forward(self, x):
        return self.classifier(self.pool(self.block(self.stem(x))).flatten(1))


def quantized_stem_cnn(shape=SHAPE):
    """(int8 graph, [(int8 sample, label)] x 4) of StemCNN on `shape` with seeded weights and calibration."""
    samples = np.random.default_rng(3).normal(0, 1.2, (20, *shape)).astype(np.float32)
    model = randomize_(StemCNN(), seed=1)
    graph = quantize(to_graph(from_torch(model, torch.from_numpy(samples[:1]))), list(samples[:16]), progress=False)
    return graph, [(quantize_input(graph, s)[0], i % 5) for i, s in enumerate(samples[16:])]
