"""Run a training program with TVM on the host (the Relax oracle of the training step)."""
from __future__ import annotations

import numpy as np

from . import _tvm
from .errors import ShapeError
from .passes.add_loss import LOSSES
from .passes.step_inputs import parameters, scalar_values


class RelaxTrainer:
    """Holds the parameters between steps; `step` runs one TVM-built training step."""

    def __init__(self, program, optimize: bool = False):
        self.program = program
        self.run = _tvm.build(program.mod, optimize=optimize)
        self.names = [p.name for p in parameters(program.mod)]
        self.params = {n: np.array(program.params[n]) for n in self.names}
        self.updated = program.updated

    def step(self, x_q, label: int, step_index: int, lr_weight=None, lr_bias=None) -> float:
        """One step on `label` (with the MSE loss: the float32 target, shaped like the output);
        the parameters are updated in place.  With a program built with
        return_grads, the gradients of the step are left in `self.grads`."""
        scheme = self.program.scheme
        shape = self.program.graph.input_shape
        if np.asarray(x_q).size != int(np.prod(shape)):
            raise ShapeError(f"RelaxTrainer: input has shape {np.shape(x_q)}, the model expects {shape}")
        x_q = np.asarray(x_q, np.int8).reshape(1, *shape)
        scalars = scalar_values(self.program.mod, **{LOSSES[scheme.loss][1].name: label}, step=step_index,
                                lr_weight=scheme.lr_weight if lr_weight is None else lr_weight,
                                lr_bias=scheme.lr_bias if lr_bias is None else lr_bias)
        outs = self.run(x_q, *scalars, *(self.params[n] for n in self.names))
        for name, value in zip(self.updated, outs[1:]):
            self.params[name] = value
        self.grads = dict(zip(self.updated, outs[1 + len(self.updated):]))
        return float(outs[0])
