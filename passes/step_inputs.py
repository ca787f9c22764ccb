"""The training step's inputs other than the sample and the parameters, declared once.

`main(x, label, lr_weight, lr_bias, step, *params)`: `add_loss` adds the label (with the MSE
loss, the float32 target shaped like the output instead: the one input here that is a tensor),
`sgd_update` the optimizer's scalars.  Every stage after them reads this table instead of counting
positions: codegen reads each scalar from the C expression named here (the label is
`tt_train`'s argument, the others are static state of the generated program), the Relax
oracle passes values by name, and the parameters are the inputs after `num_input`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.errors import TinyTrainError

from .training_graph import main_attr


@dataclass(frozen=True)
class StepScalar:
    name: str
    dtype: str
    c_expr: str   # what the generated step reads for it
    doc: str


LABEL = StepScalar("label", "int32", "label", "the sample's class: tt_train's argument")
TARGET = StepScalar("target", "float32", "target",
                    "the MSE loss's float32 target, shaped like the output: tt_train's argument")
OPTIMIZER = (
    StepScalar("lr_weight", "float32", "tt_lr_weight", "learning rate of weights (tt_set_learning_rates)"),
    StepScalar("lr_bias", "float32", "tt_lr_bias", "learning rate of biases (tt_set_learning_rates)"),
    StepScalar("step", "uint32", "tt_step",
               "steps taken so far: seeds the stochastic rounding of int8 weight updates"),
)
SCALARS = {s.name: s for s in (LABEL, TARGET, *OPTIMIZER)}


def scalar_var(scalar: StepScalar, shape=()) -> relax.Var:
    return relax.Var(scalar.name, tensor_type(shape, scalar.dtype))


def parameters(mod) -> list:
    """main's parameters: its inputs after the sample and the step scalars."""
    return list(mod["main"].params[int(main_attr(mod, "num_input", 1)):])


def scalar_values(mod, **values) -> list[np.ndarray]:
    """The values of main's step scalars in main's order, from keyword arguments by name, each
    shaped as main declares it (a target may be given flat)."""
    inputs = mod["main"].params[1:int(main_attr(mod, "num_input", 1))]
    names = [p.name for p in inputs]
    if set(names) != set(values):
        raise TinyTrainError(f"step scalars: main takes {names}, got {sorted(values)}")
    out = []
    for p in inputs:
        shape = tuple(int(d) for d in p.ty.shape)
        value = np.asarray(values[p.name], SCALARS[p.name].dtype)
        if value.size != int(np.prod(shape)):
            raise TinyTrainError(f"step scalars: {p.name} has {value.size} values, main takes shape {shape}")
        out.append(value.reshape(shape))
    return out
