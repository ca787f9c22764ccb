"""Turn the MODEL argument of the command line into a layer graph.

MODEL is one of: a paper backbone name (`mbv2-w0.35`), a converted backbone `.json`, an int8
layer-graph `.json` written by `tvm-tinytrain quantize` (graph_file.py), an `.onnx` file, or
`package.module:function` where the function returns `(torch_module, example_input)`.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .backbones import BACKBONES, load_backbone
from .errors import TinyTrainError
from .graph import Graph

FORMS = (f"a backbone name ({', '.join(BACKBONES)}), a converted backbone .json, an int8 graph .json written by "
         f"`tvm-tinytrain quantize`, an .onnx file, "
         f"or module:function returning (torch_module, example_input)")


def load_model(spec: str, num_classes: int | None = None) -> Graph:
    """`num_classes` gives a paper backbone a fresh head (other models keep theirs)."""
    from . import graph_file

    if graph_file.is_graph_file(spec):
        return graph_file.load(spec)
    if spec in BACKBONES or spec.endswith(".json"):
        return load_backbone(spec, num_classes=num_classes)
    if spec.endswith(".onnx"):
        from .frontend.onnx import from_onnx
        from .frontend.to_graph import to_graph

        return to_graph(from_onnx(spec))
    if ":" in spec and not Path(spec).exists():
        return _from_python(spec)
    raise TinyTrainError(f"cannot load model {spec!r}: MODEL must be {FORMS}")


def _from_python(spec: str) -> Graph:
    from .frontend.to_graph import to_graph
    from .frontend.torch import from_torch

    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise TinyTrainError(f"cannot import {module_name!r} for model {spec!r}: {err}") from None
    except (Exception, SystemExit) as err:  # the user's own code: say where it failed, not how deep
        raise TinyTrainError(f"importing {module_name!r} (model {spec!r}) raised {_describe(err)}; fix the "
                             f"module") from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise TinyTrainError(f"{module_name!r} has no function {func_name!r} (model {spec!r})")
    try:
        result = factory()
    except (Exception, SystemExit) as err:
        raise TinyTrainError(f"MODEL {spec} raised {_describe(err)}; fix the function (it must return "
                             f"(torch_module, example_input))") from None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TinyTrainError(f"{spec} must return (torch_module, example_input), got {type(result).__name__}")
    model, example = result
    return to_graph(from_torch(model, example, name=func_name if func_name != "build" else module_name.split(".")[-1]))


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__
