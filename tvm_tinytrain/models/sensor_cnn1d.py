"""A 1-D CNN for accelerometer-like signals (3 axes x 128 samples), in torch's own 1-D layers:
Conv1d + BatchNorm1d + ReLU, MaxPool1d, a depthwise Conv1d, AvgPool1d, AdaptiveAvgPool1d(2), then
Linear + BatchNorm1d + ReLU and the classifier. The importer maps every 1-D layer onto the 2-D ones
with H = 1 (a (1, 3, 128) input is the layer graph's (3, 1, 128)), and both batch norms are folded.
"""
from torch import nn

from ._random import example_input, randomize_

INPUT_SHAPE = (3, 128)  # (axes, samples): torch's (C, L)


class SensorCNN1d(nn.Module):
    def __init__(self, num_classes: int = 6):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(3, 16, 5, 2, 2, bias=False), nn.BatchNorm1d(16), nn.ReLU(),     # 128 -> 64
            nn.MaxPool1d(3, 2, 1),                                                   # 64 -> 32
            nn.Conv1d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
            nn.Conv1d(16, 24, 1, bias=False), nn.BatchNorm1d(24), nn.ReLU(),
            nn.AvgPool1d(4, 2, 1),                                                   # 32 -> 16, padded
            nn.Conv1d(24, 32, 3, 2, 1, bias=False), nn.BatchNorm1d(32), nn.ReLU(),   # 16 -> 8
            nn.AdaptiveAvgPool1d(2))                                                 # 8 -> 2
        self.head = nn.Sequential(nn.Linear(64, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU())
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.classifier(self.head(self.features(x).flatten(1)))


def build(num_classes: int = 6, seed: int = 0):
    """(model in eval mode with seeded random weights and BN statistics, 1x3x128 input)."""
    return randomize_(SensorCNN1d(num_classes), seed), example_input((1, *INPUT_SHAPE), seed)
