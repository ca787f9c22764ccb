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
    `dump`: write the module after every stage into this folder.  `sram_budget` (bytes): the device's peak SRAM
    the step may take, as a board measures it (static + stack): the static SRAM (arena + trained parameters) gets
    what is left after DEVICE_RESERVE (the stack and the firmware's own RAM); the memory passes that cost
    instructions are applied only where it needs them (`memory_passes`; None: none applied).
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
                                    or sram_budget <= DEVICE_RESERVE):
        raise TinyTrainError(f"compile: sram_budget must be a number of bytes > {DEVICE_RESERVE:,} (the stack and the "
                             f"firmware's own RAM it reserves), got {sram_budget!r:.40}")
    return Compiled(memory_passes(graph, scheme, sram_budget, dump=dump, check=check))


# What a device holds beside the step's static SRAM (arena + trained parameters), reserved from an SRAM budget so
# that the budget bounds the peak the device measures (static + the stack's high-water mark):
STACK_RESERVE = 3328  # the deepest stack measured on QEMU M4 / M7 of the backbones' steps: 3,104 B (the chained stem's
#                       nested row loops), +224 B; test_qemu_runner checks each device run's stack against it
FIRMWARE_RAM = 64  # the firmware's own .data / .bss beside the model's (transport state, the counters): 28 B on M4 / M7
DEVICE_RESERVE = STACK_RESERVE + FIRMWARE_RAM


def static_budget(sram_budget: int | None) -> int | None:
    """The static SRAM (arena + trained parameters) a device-peak budget leaves: less the stack and the firmware."""
    return None if sram_budget is None else sram_budget - DEVICE_RESERVE


def memory_passes(graph: Graph, scheme: Scheme, sram_budget: int | None, **pipeline):
    """The training program with the memory passes that cost instructions applied only where `sram_budget`
    needs them (the device's peak: static_sram within static_budget).  One such pass, chunk_depthwise_grad (a strided
    depthwise conv's input gradient, or a projection's, a chunk of channels at a time: a loop's calls per chunk): the
    layers `choose_layers` takes by the training step's arena; none while the step fits; what is still over the budget
    the board's link check reports.  `program.chunked` names the layers taken; if the step is still over, the
    chunks of those `narrow_chunks` picks are narrowed (`program.narrow`).  Then the stem's output is pulled in rows
    only where that lowers the final step's arena (input_stream.keep_chain_where_it_lowers)."""
    from .codegen.emit import sram_param_bytes
    from .codegen.input_stream import keep_chain_where_it_lowers
    from .passes.pipeline import build_training

    def build(chunked, narrow=(), reuse=None):
        program = build_training(graph, scheme, chunked=list(chunked), narrow=dict(narrow), reuse=reuse, **pipeline)
        program.sram_budget = sram_budget
        return program

    program = unchunked = build(())
    if sram_budget is not None:
        params, measured = sram_param_bytes(program), {}

        def measure(chunked, narrow=()):
            narrow = {layer: width for layer, width in dict(narrow).items() if layer in chunked}
            key = frozenset(chunked), frozenset(narrow.items())
            if key not in measured:
                measured[key] = _measure(program if not chunked else build(chunked, narrow, unchunked),
                                         static_budget(sram_budget) - params)
            return measured[key]

        chunked, narrow = choose_and_narrow(program.chunkable, measure)
        if chunked:
            program = build(chunked, narrow, unchunked)
    return keep_chain_where_it_lowers(program)


def choose_and_narrow(chunkable: list, measure) -> tuple[list, dict]:
    """The layers to chunk and the chunks to narrow: `choose_layers` at full width, then `narrow_chunks`; while the
    step is still over, `choose_layers` again from those layers with their chunks narrowed (narrowing moves the
    peak, and a layer that lowered nothing before may lower it now: Proxyless at 115K), and `narrow_chunks` of
    the larger set, until a round changes nothing.  `measure(layers, narrow)` is a StepArena."""
    chunked, narrow, seen, best = [], {}, set(), None
    while frozenset(chunked) not in seen:
        seen.add(frozenset(chunked))
        chunked = choose_layers(chunkable, lambda layers, widths=dict(narrow): measure(layers, widths), chunked)
        narrow = narrow_chunks(chunked, lambda widths, layers=tuple(chunked): measure(layers, widths))
        step = measure(chunked, narrow)
        if best is None or step.arena < best[2].arena:
            best = chunked, narrow, step
        if step.done:
            break
    return best[:2]


def narrow_chunks(chunked: list, measure) -> dict:
    """Of the chunked layers, those whose chunks to narrow and their chunks' bytes (a smaller scratch, more turns of
    the loop, the same values): while `measure({})` (a StepArena) is not done, all of them to NARROW_CHUNK_BYTES if
    that lowers the step's arena; then each, last first, back to the widest of its full width and NARROW_STEPS that
    keeps the step done or does not raise its arena again (a wider chunk: fewer turns)."""
    from .codegen.templates_memory import NARROW_CHUNK_BYTES, NARROW_STEPS

    now = measure({})
    if now.done or not chunked:
        return {}
    narrow = dict.fromkeys(chunked, NARROW_CHUNK_BYTES)
    trial = measure(narrow)
    if trial.arena >= now.arena:
        return {}
    for layer in reversed(chunked):
        for width in (None, *NARROW_STEPS):
            wider = {kept: w for kept, w in narrow.items() if kept != layer} | ({} if width is None else {layer: width})
            step = measure(wider)
            if step.done or step.arena <= trial.arena:
                narrow, trial = wider, step
                break
    return narrow


@dataclass(frozen=True)
class StepArena:
    """What the budget loop reads of one choice of layers: the training step's arena and peak (as the arena
    holds them), the layers whose input gradient is live at that peak, whether chunking is done (the
    program fits, or the prediction's arena is the larger: chunking cannot lower it), and how many ops hold the
    peak (a layer that takes one of two equal peaks away lowers that)."""

    arena: int
    peak: int
    at_peak: frozenset
    done: bool
    peak_ops: int = 1


def choose_layers(chunkable: list, measure, start=()) -> list:
    """The layers to chunk: from `start`, one at a time, the candidates whose input gradient is live at the step's
    peak first, then the others in order, the first that lowers the step's arena or its peak (live bytes gone, or
    one of several ops at the peak: the planner's packing need not follow at once, a later layer can make it); one
    that lowers neither is tried again
    after the next is kept; until `measure(layers)` (a StepArena) is done or no candidate lowers anything.  Of the
    choices passed, the one with the lowest arena; then each of its layers whose removal does not raise the
    arena is dropped, last taken first: every layer left buys arena for the instructions it costs."""
    chunked = list(start)
    now = measure(tuple(chunked))
    best = chunked, now
    while not now.done:
        left = [layer for layer in chunkable if layer not in chunked]
        for layer in sorted(left, key=lambda layer: layer not in now.at_peak):
            trial = measure((*chunked, layer))
            if trial.arena < now.arena or (trial.peak, trial.peak_ops) < (now.peak, now.peak_ops):
                chunked, now = [*chunked, layer], trial
                best = min(best, (chunked, now), key=lambda choice: choice[1].arena)
                break
        else:
            break
    return _drop_unneeded(*best, measure)


def _drop_unneeded(layers: list, now: StepArena, measure) -> list:
    """`layers` (whose StepArena is `now`) less each whose removal does not raise the arena, last first."""
    for layer in reversed(list(layers)):
        fewer = [kept for kept in layers if kept != layer]
        trial = measure(tuple(fewer))
        if trial.arena <= now.arena:
            layers, now = fewer, trial
    return layers


def _measure(program, arena_budget: int) -> StepArena:
    report, train, predict = _arenas(program)
    at_peak = frozenset(t.layer for t in report.live_at(report.peak_op) if t.op == "conv2d_grad_input")
    return StepArena(train, report.peak_bytes, at_peak, max(train, predict) <= arena_budget or train <= predict,
                     report.live.count(report.peak_bytes))


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
