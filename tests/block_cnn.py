"""Shared by the tests of chunk_depthwise_grad: a small CNN with an inverted bottleneck whose depthwise conv has
stride 2 (its input gradient 36 x 11 x 9, four times its output gradient), and a scheme that trains the
expansion below it and a bias below that, so every reader of that gradient is there: the expansion's bias
gradient, input gradient and weight gradient + update (EXPAND_SPLIT: a split weight's).  Its torch-imported int8 graph and seeded int8 samples."""
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
EXPAND_TRAINED = Scheme("expand-trained", bias=("stem.1.0", "block.0.0", "block.1.0", "block.2.0", "classifier"),
                        weights={"block.0.0": 6, "block.2.0": 36, "classifier": 12})
# the same with the expansion's weight split: its 2 leading input channels train (SRAM), the rest is frozen
EXPAND_SPLIT = Scheme("expand-split", bias=EXPAND_TRAINED.bias, weights={**EXPAND_TRAINED.weights, "block.0.0": 2})
# the projection's weight frozen (its bias, the depthwise bias and the expansion trained): the pass can take the
# projection's input gradient a chunk at a time too, with the depthwise bias gradient among its readers
PROJECTION_FROZEN = Scheme("projection-frozen", bias=EXPAND_TRAINED.bias,
                           weights={"block.0.0": 6, "classifier": 12})


class BlockCNN(nn.Module):
    """A stem, an inverted bottleneck (1x1 expansion to 36, 3x3 depthwise stride 2 or 1, 1x1), pooling, a
    classifier."""

    def __init__(self, stride=2):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 3, 2), conv_bn(8, 6, 1))
        self.block = nn.Sequential(conv_bn(6, 36, 1), conv_bn(36, 36, 3, stride, groups=36),
                                   conv_bn(36, 12, 1, relu6=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(12, 5)

    def forward(self, x):
        return self.classifier(self.pool(self.block(self.stem(x))).flatten(1))


def quantized_block_cnn(stride=2, shape=SHAPE):
    """(int8 graph, [(int8 sample, label)] x 4) of BlockCNN (its depthwise `stride`) with seeded weights and
    calibration, on samples of `shape`."""
    samples = np.random.default_rng(5).normal(0, 1.2, (20, *shape)).astype(np.float32)
    model = randomize_(BlockCNN(stride), seed=2)
    graph = quantize(to_graph(from_torch(model, torch.from_numpy(samples[:1]))), list(samples[:16]), progress=False)
    return graph, [(quantize_input(graph, s)[0], i % 5) for i, s in enumerate(samples[16:])]
