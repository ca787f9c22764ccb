"""A resolved sparse-update scheme: exactly which parameters one training step updates.

Scheme files and presets (`bias-only`, `last-2`, `paper-99kb`, ...) are resolved against a
graph into this form by `tvm_tinytrain.schemes` (layer indices become layer names, channel
ratios become channel counts); every training stage consumes only this.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Scheme:
    name: str
    bias: tuple[str, ...] = ()                              # layers whose bias is updated, graph order
    weights: dict[str, int] = field(default_factory=dict)   # layer -> leading input channels updated
    lr_weight: float = 0.05
    lr_bias: float = 0.05
    qas: bool = True
    fp32_classifier: bool = False

    def updates(self, layer: str) -> bool:
        return layer in self.weights or layer in self.bias
