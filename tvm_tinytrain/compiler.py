"""One entry point: a model and a scheme -> the training program, the prediction module and the C.

    compiled = compile("mcunet-5fps", "paper-100kb", qas=False, check=True)
    compiled.program   # passes.pipeline.TrainingProgram: the training step's Relax module, params, memory
    compiled.predict   # the Relax forward of tt_predict, from the same pipeline run
    compiled.project   # the generated C (codegen.emit.Project), made on first use
    compiled.memory    # its memory.json figures

Every command, the training runs, the scheme search's memory figures, the benchmarks and the
demo go through here, so the sequence model -> scheme -> pipeline -> C exists once.  The
options are declared in options.py (`compile`'s keywords are its overrides and `check`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from . import options
from .errors import TinyTrainError
from .graph import Graph
from .scheme import Scheme


@dataclass
class Compiled:
    program: object                     # passes.pipeline.TrainingProgram
    _project: object = field(default=None, repr=False)

    @property
    def graph(self) -> Graph:
        return self.program.graph

    @property
    def scheme(self) -> Scheme:
        return self.program.scheme

    @property
    def predict(self):
        return self.program.predict

    @property
    def project(self):
        """The generated C project (codegen.emit.Project), generated once."""
        if self._project is None:
            from .codegen.emit import generate

            self._project = generate(self.program)
        return self._project

    @property
    def memory(self) -> dict:
        return self.project.memory


def compile(model, scheme, *, num_classes: int | None = None, dump: str | Path | None = None,
            sram_budget: int | None = None, **opts) -> Compiled:
    """Run the whole pipeline once for `model` trained by `scheme`.

    model: an int8 Graph, or a MODEL spec (a backbone name, an int8 graph file, ...) loaded
    with model_spec.load_model (`num_classes`: the head's size, where the model lets us choose);
    an fp32 model must be quantized first.  scheme: anything resolve_scheme takes, or a
    resolved Scheme.  opts: the overrides of options.py (lr_weight, lr_bias, qas,
    fp32_classifier; None keeps the scheme's) and check=True, which checks every stage's module.
    `dump`: write the module after every stage into this folder.  `sram_budget` (bytes): the SRAM the
    step may take (arena + trained parameters); the memory passes that cost instructions are applied only
    where it needs them (`memory_passes`; None: none applied).
    """
    unknown = sorted(set(opts) - set(options.OVERRIDES) - {"check"})
    if unknown:
        raise TinyTrainError(f"compile: unknown option {', '.join(map(repr, unknown))}; the options are "
                             f"{', '.join(options.OVERRIDES)} and check")
    check = opts.pop("check", False)
    options.check_value("check", check, "compile")
    graph = _int8_graph(model, num_classes)
    overrides = {k: v for k, v in opts.items() if v is not None}
    if isinstance(scheme, Scheme):
        for key, value in overrides.items():
            options.check_value(key, value, "override")
        scheme = dataclasses.replace(scheme, **overrides)
    else:
        from .schemes import resolve_scheme

        scheme = resolve_scheme(scheme, graph, **overrides)
    if sram_budget is not None and (isinstance(sram_budget, bool) or not isinstance(sram_budget, int)
                                    or sram_budget <= 0):
        raise TinyTrainError(f"compile: sram_budget must be a number of bytes > 0, got {sram_budget!r:.40}")
    return Compiled(memory_passes(graph, scheme, sram_budget, dump=dump, check=check))


def memory_passes(graph: Graph, scheme: Scheme, sram_budget: int | None, **pipeline):
    """The training program with the memory passes that cost instructions applied only where `sram_budget`
    needs them.  One such pass, chunk_depthwise_grad (it recomputes a chunk of a strided depthwise conv's
    input gradient in each of its readers): none while the step fits the budget (static_sram); while it does
    not, one at a time, the depthwise layer whose input gradient is live at the training step's arena peak,
    until the step fits, or that peak is not such a gradient, or the prediction's arena is the larger (what is
    still over the budget the board's link check reports).  `program.chunked` names the layers taken."""
    from .codegen.emit import sram_param_bytes
    from .passes.pipeline import build_training

    chunked: list[str] = []
    while True:
        program = build_training(graph, scheme, chunked=chunked, **pipeline)
        program.sram_budget = sram_budget
        train, train_arena, predict_arena = _arenas(program)
        if sram_budget is None or max(train_arena, predict_arena) + sram_param_bytes(program) <= sram_budget:
            return program
        peak = {t.layer for t in train.live_at(train.peak_op) if t.op == "conv2d_grad_input"}
        at_peak = [layer for layer in program.chunkable if layer in peak and layer not in chunked]
        if not at_peak or train_arena <= predict_arena:
            return program
        chunked.append(at_peak[0])


def static_sram(program) -> int:
    """Bytes of SRAM the generated C's step holds statically: its arena (training step or prediction, the
    larger) and the trained parameters with their optimizer state (memory.json's arena_bytes +
    updated_param_bytes); the stack and the firmware's own state come on top."""
    from .codegen.emit import sram_param_bytes

    return max(_arenas(program)[1:]) + sram_param_bytes(program)


def _arenas(program) -> tuple:
    """(the training step's liveness as its arena holds it, its arena bytes, the prediction's arena bytes)."""
    from .codegen.emit import plan_arena
    from .codegen.input_stream import program_input

    train_path, predict_path, _ = program_input(program.mod, program.predict)
    report, train = plan_arena(program.mod, train_path)
    return report, train.arena_bytes, plan_arena(program.predict, predict_path)[1].arena_bytes


def _int8_graph(model, num_classes) -> Graph:
    if isinstance(model, Graph):
        graph, name = model, model.name
    else:
        from .model_spec import load_model

        graph, name = load_model(model, num_classes=num_classes), model
    if not graph.quantized:
        raise TinyTrainError(f"compile: {name} is an fp32 model: quantize it first (`tvm-tinytrain quantize "
                             f"{name} --data SPEC --out FILE`, then pass FILE.json) or give compile --data SPEC")
    return graph
