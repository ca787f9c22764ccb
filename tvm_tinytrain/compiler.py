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
            **opts) -> Compiled:
    """Run the whole pipeline once for `model` trained by `scheme`.

    model: an int8 Graph, or a MODEL spec (a backbone name, an int8 graph file, ...) loaded
    with model_spec.load_model (`num_classes`: the head's size, where the model lets us choose);
    an fp32 model must be quantized first.  scheme: anything resolve_scheme takes, or a
    resolved Scheme.  opts: the overrides of options.py (lr_weight, lr_bias, qas,
    fp32_classifier; None keeps the scheme's) and check=True, which checks every stage's module.
    `dump`: write the module after every stage into this folder.
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
    from .passes.pipeline import build_training

    return Compiled(build_training(graph, scheme, dump=dump, check=check))


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
