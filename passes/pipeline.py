"""The training-graph pipeline: one function listing the stages in order.

    lower               int8 layer graph -> Relax forward, parameters as inputs
    add_loss            + cross-entropy (optionally an fp32 classifier)
    sparse_update       mark the trainable parameters of the scheme
    quantized_autodiff  the backward, pruned to what those parameters need
    qas                 Quantization-Aware Scaling of the gradients   (if scheme.qas)
    sgd_update          in-place SGD right after each gradient
    fuse_grad_update    weight gradient + update as one op, a few rows at a time
    fuse_conv_dw_pw_rows   frozen conv -> depthwise -> 1x1 chain, one output row at a time
    fuse_expand_depthwise  frozen 1x1 expansion + its depthwise conv, a channel at a time
    inplace_depthwise   a depthwise conv whose input dies at it writes over that input
    reorder             schedule for a small live set (must come last: it orders the updates)

The four memory passes only change what a device keeps alive, never a value.  Order: a whole
chain by rows first (it needs the least), then an expansion + depthwise pair that is left, then
in place what no fusion took.

`dump` (a folder) writes the module after every stage as `NN_<stage>.py` (TVMScript).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tvm_tinytrain.graph import Graph
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.scheme import Scheme

from .add_loss import add_loss
from .fuse_conv_dw_pw_rows import fuse_conv_dw_pw_rows
from .fuse_expand_depthwise import fuse_expand_depthwise
from .fuse_grad_update import fuse_grad_update
from .inplace_depthwise import inplace_depthwise
from .memory_analysis import MemoryReport, analyze
from .qas import qas
from .quantized_autodiff import quantized_autodiff
from .reorder import reorder
from .sgd_update import sgd_update
from .sparse_update import sparse_update

STAGES = ("lower", "add_loss", "sparse_update", "quantized_autodiff", "qas", "sgd_update", "fuse_grad_update",
          "fuse_conv_dw_pw_rows", "fuse_expand_depthwise", "inplace_depthwise", "reorder")


@dataclass
class TrainingProgram:
    """`mod.main(x, label, lr_weight, lr_bias, step, *params) -> (loss, *updated params)`."""

    mod: object
    params: dict          # initial values of main's parameters, by name
    scheme: Scheme
    graph: Graph
    memory: MemoryReport

    @property
    def updated(self) -> list[str]:
        from .training_graph import main_attr

        return list(main_attr(self.mod, "tt.updates", []))


def build_training(graph: Graph, scheme: Scheme, dump: str | Path | None = None,
                   stop_after: str = "reorder", return_grads: bool = False) -> TrainingProgram:
    """Run the stages up to `stop_after`; `return_grads` makes main also return the
    gradients (after the updated parameters), for comparison with an oracle."""
    if stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}")
    dump = Path(dump) if dump else None
    if dump:
        dump.mkdir(parents=True, exist_ok=True)

    def stage(n, name, mod):
        if dump:
            (dump / f"{n:02d}_{name}.py").write_text(mod.script())
        return name == stop_after

    mod, params = to_relax(graph, params_as_inputs=True)
    done = stage(0, "lower", mod)
    steps = [("add_loss", lambda m: add_loss(m, params, scheme.fp32_classifier)),
             ("sparse_update", lambda m: sparse_update(m, scheme)),
             ("quantized_autodiff", quantized_autodiff),
             ("qas", qas if scheme.qas else None),
             ("sgd_update", lambda m: sgd_update(m, return_grads)),
             ("fuse_grad_update", fuse_grad_update),
             ("fuse_conv_dw_pw_rows", fuse_conv_dw_pw_rows),
             ("fuse_expand_depthwise", fuse_expand_depthwise),
             ("inplace_depthwise", inplace_depthwise),
             ("reorder", reorder)]
    for n, (name, apply) in enumerate(steps, start=1):
        if done:
            break
        if apply is not None:
            result = apply(mod)
            mod, params = result if isinstance(result, tuple) else (result, params)
        done = stage(n, name, mod)
    memory = analyze(mod) if STAGES.index(stop_after) >= STAGES.index("quantized_autodiff") else None
    return TrainingProgram(mod, params, scheme, graph, memory)
