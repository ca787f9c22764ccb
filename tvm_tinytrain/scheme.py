"""A resolved sparse-update scheme: exactly which parameters one training step updates.

Scheme files and presets (`bias-only`, `last-2`, `paper-99kb`, ...) are resolved against a
graph into this form by `tvm_tinytrain.schemes` (layer indices become layer names, channel
ratios become channel counts); every training stage consumes only this.
"""
from __future__ import annotations

from dataclasses import dataclass, field


# Optimizer state (with momentum): one float32 tensor per trained tensor, shaped like its gradient
# (the trained slice), named `<param>.velocity`, starting at zero.  It is a parameter of the step
# that the step updates in place (after the parameters in main's inputs and in `tt.updates`), so
# the C keeps it in SRAM beside the trained values and reads it back with them, checkpoints save
# it and the memory figures count it.  SGD with momentum m: v <- m v + G, the update applies v.
OPTIMIZER_STATE = "velocity"


def state_name(param: str) -> str:
    return f"{param}.{OPTIMIZER_STATE}"


def is_state(name: str) -> bool:
    return name.endswith(f".{OPTIMIZER_STATE}")


@dataclass
class Scheme:
    name: str
    bias: tuple[str, ...] = ()                              # layers whose bias is updated, graph order
    weights: dict[str, int] = field(default_factory=dict)   # layer -> leading input channels updated
    lr_weight: float = 0.05
    lr_bias: float = 0.05
    qas: bool = True
    fp32_classifier: bool = False
    momentum: float = 0.0       # SGD momentum; > 0 gives each trained tensor a float32 velocity (optimizer state)
    loss: str = "cross_entropy"  # or "mse": mean squared error against a float32 target shaped like the output

    def updates(self, layer: str) -> bool:
        return layer in self.weights or layer in self.bias
