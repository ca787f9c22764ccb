"""The training-graph pipeline: one function listing the stages in order.

    lower               int8 layer graph -> Relax forward, parameters as inputs
    add_loss            + cross-entropy (optionally an fp32 classifier)
    sparse_update       mark the trainable parameters of the scheme
    quantized_autodiff  the backward, pruned to what those parameters need
    qas                 Quantization-Aware Scaling of the gradients   (if scheme.qas)
    sgd_update          in-place SGD right after each gradient
    fuse_grad_update    weight gradient + update as one op, a few rows at a time
    chunk_depthwise_grad   a strided depthwise conv's input gradient (or a frozen projection's and the depthwise
                        gradient below it) a chunk of channels at a time in each reader (where the SRAM
                        budget needs it: it recomputes the chunk per reader)
    fuse_conv_dw_pw_rows   frozen conv -> depthwise -> 1x1 chain, one output row at a time
    fuse_expand_depthwise  frozen 1x1 expansion + its depthwise conv, up to four channels at a time
    inplace_depthwise   a depthwise conv whose input dies at it writes over that input
    reorder             schedule for a small live set (last of the training stages: it orders the updates)
    predict             the forward of tt_predict, from the same lowered module: the forward memory
                        passes, leaving the scheme's trained layers alone, and the fp32 head if any

The memory passes only change what a device keeps alive, never a value.  Order: a whole
chain by rows first (it needs the least), then an expansion + depthwise pair that is left, then
in place what no fusion took.

`dump` (a folder) writes the module after every stage as `NN_<stage>.py` (TVMScript).  `check`
checks the module after every stage (Relax well-formedness, and main a sequence of declared tt
ops) and names the stage that broke it.  `tvm_tinytrain.compiler.compile` is the entry point.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tvm_tinytrain._tvm import clone_module, well_formed
from tvm_tinytrain.codegen.templates_memory import NARROW_CHUNK_BYTES
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.graph import Graph
from tvm_tinytrain.ops.registry import RECORDS
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.scheme import Scheme

from .add_loss import add_loss
from .chunk_depthwise_grad import candidates, chunk_depthwise_grad
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
from .step_inputs import LABEL
from .training_graph import copy_binding, main_attr, op_bindings, rewrite_main

STAGES = ("lower", "add_loss", "sparse_update", "quantized_autodiff", "qas", "sgd_update", "fuse_grad_update",
          "chunk_depthwise_grad", "fuse_conv_dw_pw_rows", "fuse_expand_depthwise", "inplace_depthwise", "reorder", "predict")


@dataclass
class TrainingProgram:
    """`mod.main(x, label, lr_weight, lr_bias, step, *params) -> (loss, *updated params)`;
    `predict.main(x, *params) -> logits` (None if the pipeline stopped before its stage)."""

    mod: object
    params: dict          # initial values of main's parameters, by name
    scheme: Scheme
    graph: Graph
    memory: MemoryReport
    predict: object = None
    chunked: list = field(default_factory=list)  # layers chunk_depthwise_grad took (depthwise or projection)
    chunkable: list = field(default_factory=list)  # the layers it could take, at its stage (candidates)
    narrow: list = field(default_factory=list)  # of `chunked`, those whose chunks are narrowed (a smaller scratch)
    sram_budget: int | None = None               # the budget that chose them (compiler.memory_passes)
    unchunked: tuple | None = None               # (module, params) before chunk_depthwise_grad: `reuse`

    @property
    def updated(self) -> list[str]:
        return list(main_attr(self.mod, "tt.updates", []))


def build_training(graph: Graph, scheme: Scheme, dump: str | Path | None = None, stop_after: str = "predict",
                   return_grads: bool = False, check: bool = False, chunked=(), narrow=(),
                   reuse: TrainingProgram | None = None) -> TrainingProgram:
    """Run the stages up to `stop_after`; `return_grads` makes main also return the
    gradients (after the updated parameters), for comparison with an oracle.  `chunked`: the depthwise
    layers whose input gradient `chunk_depthwise_grad` takes a chunk at a time (it costs instructions:
    by default none; None: every one it can; compiler.memory_passes chooses them by an SRAM budget); `narrow`: those
    of them whose chunks are narrowed (a smaller scratch, the same values; compiler.narrow_chunks): a list (their
    chunks take NARROW_CHUNK_BYTES) or a mapping to each one's chunk bytes.
    `reuse`: a whole program built by the same call with other `chunked` layers: its stages before
    chunk_depthwise_grad and its prediction module, which no choice of layers changes, are taken as they are
    (the budget loop builds one program per candidate; the stages return new modules, never change theirs)."""
    if stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}")
    dump = Path(dump) if dump else None
    if dump:
        dump.mkdir(parents=True, exist_ok=True)

    def stage(n, name, mod):
        if check:
            check_stage(mod, name)
        if dump:
            (dump / f"{n:02d}_{name}.py").write_text(mod.script())
        return name == stop_after

    applied, chunkable = [], []
    widths = narrow if isinstance(narrow, dict) else dict.fromkeys(narrow, NARROW_CHUNK_BYTES)

    def chunk(m):
        chunkable.extend(candidates(m))
        applied.extend(layer for layer in chunkable if chunked is None or layer in chunked)
        return chunk_depthwise_grad(m, applied, {layer: widths[layer] for layer in applied if layer in widths})

    if reuse is not None and (reuse.unchunked is None or stop_after != "predict"):
        raise ValueError("reuse takes a whole program (stop_after='predict') and builds one")
    lowered, lowered_params = mod, params = to_relax(graph, params_as_inputs=True) if reuse is None else (None, {})
    done = reuse is None and stage(0, "lower", mod)
    unchunked = None
    steps = [("add_loss", lambda m: add_loss(m, params, scheme.fp32_classifier, scheme.loss)),
             ("sparse_update", lambda m: sparse_update(m, scheme)),
             ("quantized_autodiff", quantized_autodiff),
             ("qas", qas if scheme.qas else None),
             ("sgd_update", lambda m: sgd_update(m, return_grads, scheme.momentum, params, scheme.float_copy)),
             ("fuse_grad_update", fuse_grad_update),
             ("chunk_depthwise_grad", chunk),
             ("fuse_conv_dw_pw_rows", fuse_conv_dw_pw_rows),
             ("fuse_expand_depthwise", fuse_expand_depthwise),
             ("inplace_depthwise", inplace_depthwise),
             ("reorder", reorder)]
    first = 1
    if reuse is not None:
        (mod, params), first = reuse.unchunked, STAGES.index("chunk_depthwise_grad")
    for n, (name, apply) in enumerate(steps[first - 1:], start=first):
        if done:
            break
        if name == "chunk_depthwise_grad":
            unchunked = mod, params
        if apply is not None:
            result = apply(mod)
            mod, params = result if isinstance(result, tuple) else (result, params)
        done = stage(n, name, mod)
    predict = None
    if reuse is not None:
        predict = reuse.predict
    elif not done:
        predict = predict_module(lowered, lowered_params, scheme.fp32_classifier, main_attr(mod, "tt.trainable", {}))
        stage(len(steps) + 1, "predict", predict)
    memory = analyze(mod) if STAGES.index(stop_after) >= STAGES.index("quantized_autodiff") else None
    return TrainingProgram(mod, params, scheme, graph, memory, predict, applied, chunkable=chunkable,
                           narrow=[layer for layer in applied if layer in narrow], unchunked=unchunked)


def predict_module(lowered, params: dict, fp32_classifier: bool, trainable: dict):
    """The forward of tt_predict from the lowered module: int8 logits, or with an fp32 classifier
    the float logits of the trained float head (the same linear_f32 op and parameters as the
    training step).  The forward memory passes run on it as in the training step, and leave the
    same (`trainable`) layers alone: their weights may be split between SRAM and flash."""
    mod = clone_module(lowered)
    mod["main"] = mod["main"].with_attr("tt.trainable", trainable)
    mod = inplace_depthwise(fuse_expand_depthwise(fuse_conv_dw_pw_rows(mod)))
    if not fp32_classifier:
        return mod
    with_loss, _ = add_loss(mod, params, fp32_classifier=True)
    bindings = op_bindings(with_loss)[:-1]  # drop the cross-entropy: end at the logits
    keep = [p for p in with_loss["main"].params if p.name != LABEL.name]

    def emit(bb):
        vmap = {}
        for b in bindings:
            copy_binding(bb, b, vmap)
        return vmap[bindings[-1].var]

    return rewrite_main(with_loss, keep, emit, {"num_input": 1})


def check_stage(mod, stage: str):
    """The invariants every stage keeps: a well-formed Relax module whose main is a sequence of
    calls of declared tt ops.  A break is a bug of that stage, named in the error."""
    where = (f"pipeline stage {stage!r} produced a broken module (a bug of that pass: report it with the "
             f"model and scheme, and `plan --dump DIR` shows the module after every stage)")
    broken = well_formed(mod)
    if broken:
        raise TinyTrainError(f"{where}: not well-formed Relax ({broken})")
    try:
        ops = {b.op for b in op_bindings(mod)}
    except ValueError as err:
        raise TinyTrainError(f"{where}: {err}") from None
    unknown = sorted(ops - set(RECORDS))
    if unknown:
        raise TinyTrainError(f"{where}: main calls {', '.join(map(repr, unknown))}, which no op record declares")
