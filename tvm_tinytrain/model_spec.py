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
        return _from_python(spec, num_classes)
    raise TinyTrainError(f"cannot load model {spec!r}: MODEL must be {FORMS}")


def _from_python(spec: str, num_classes: int | None = None) -> Graph:
    """`module:function`: the user's own code, imported as `python -m` would find it (the current
    folder first, for this import only) and called with `num_classes` if it takes that parameter."""
    from .frontend.to_graph import to_graph
    from .frontend.torch import from_torch

    module_name, _, func_name = spec.partition(":")
    module = _import_from_cwd(module_name, spec)
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise TinyTrainError(f"{module_name!r} has no function {func_name!r} (model {spec!r})")
    kwargs = _head_argument(factory, spec, num_classes)
    try:
        result = factory(**kwargs)
    except (Exception, SystemExit) as err:
        raise TinyTrainError(f"MODEL {spec} raised {_describe(err)}; fix the function (it must return "
                             f"(torch_module, example_input))") from None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TinyTrainError(f"{spec} must return (torch_module, example_input), got {type(result).__name__}")
    model, example = result
    return to_graph(from_torch(model, example, name=func_name if func_name != "build" else module_name.split(".")[-1]))


def _import_from_cwd(module_name: str, spec: str):
    """Import with the current folder at the front of sys.path (as `python -m` has it), then put
    sys.path back as it was: the user's folder is searched for this import, not for ours."""
    import os
    import sys

    saved = list(sys.path)
    sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()  # a module written since the last import is found
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise TinyTrainError(f"cannot import {module_name!r} for model {spec!r}: {err} (searched the current "
                             f"folder {os.getcwd()} first, then the Python path)") from None
    except (Exception, SystemExit) as err:  # the user's own code: say where it failed, not how deep
        raise TinyTrainError(f"importing {module_name!r} (model {spec!r}) raised {_describe(err)}; fix the "
                             f"module") from None
    finally:
        sys.path[:] = saved


def _head_argument(factory, spec: str, num_classes: int | None) -> dict:
    """{"num_classes": N} when the function has that parameter and N is known; a parameter with
    no default and no N (inspect, plan without data) is an error saying what to add."""
    import inspect

    try:
        parameter = inspect.signature(factory).parameters.get("num_classes")
    except (TypeError, ValueError):  # a builtin or C callable without a signature: called as before
        return {}
    if parameter is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD,
                                               parameter.POSITIONAL_ONLY):
        return {}
    if num_classes is not None:
        return {"num_classes": int(num_classes)}
    if parameter.default is parameter.empty:
        raise TinyTrainError(f"MODEL {spec} needs num_classes and this command has no data to count classes "
                             f"from; give the parameter a default (def {spec.partition(':')[2]}"
                             f"(num_classes=10): ...) or pass --num-classes where the command has it")
    return {}


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__
