"""A resolved sparse-update scheme: exactly which parameters one training step updates.

Scheme files and presets (`bias-only`, `last-2`, `paper-99kb`, ...) are resolved against a
graph into this form by `tvm_tinytrain.schemes` (layer indices become layer names, channel
ratios become channel counts); every training stage consumes only this.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


# Optimizer state: float32 tensors of the step, each shaped like a trained tensor's gradient (the trained
# slice: the leading channels of every axis it is cut on), named `<param>.<kind>`.  A state is a parameter
# of the step that the step updates in place (after the parameters in main's inputs and in `tt.updates`),
# so the C keeps it in SRAM beside the trained values and reads it back with them, checkpoints save it and
# the memory figures count it (4 bytes per trained value and kind).  Each kind defines its start value
# (`state_start`), which the pass, the reference and a checkpoint without the state all use:
#   velocity    (momentum m > 0; every trained tensor): zero.  v <- m v + G, the update applies v.
#   float_copy  (float_copy; int8 weights and int32 biases): the tensor's own integer values on the
#               trained slice.  copy <- copy - lr * (v or G), then the tensor <- its copy rounded to
#               nearest (ties to even) and clamped (docs/training-semantics.md).
VELOCITY, FLOAT_COPY = "velocity", "float_copy"
OPTIMIZER_STATES = (VELOCITY, FLOAT_COPY)


def state_name(param: str, kind: str = VELOCITY) -> str:
    return f"{param}.{kind}"


def is_state(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in OPTIMIZER_STATES


def state_start(name: str, param_value, shape) -> np.ndarray:
    """The start value of state `name` (of shape `shape`) for its tensor's value `param_value`."""
    if name.endswith(f".{VELOCITY}"):
        return np.zeros(shape, np.float32)
    return np.ascontiguousarray(np.asarray(param_value)[tuple(slice(0, int(n)) for n in shape)], np.float32)


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
    float_copy: bool = False    # each trained int8 weight / int32 bias keeps a float32 copy (optimizer state)
    loss: str = "cross_entropy"  # or "mse": mean squared error against a float32 target shaped like the output

    def updates(self, layer: str) -> bool:
        return layer in self.weights or layer in self.bias
