"""A contribution-analysis results file (written by `analyze`, read by `search` and by a
resumed `analyze`), validated completely before anything uses it.

The file is data from wherever the user got it: it never chooses code.  Its recorded model
is only compared with the MODEL the user names on the command line.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import TinyTrainError
from ..json_files import read_json
from .contribution import RATIOS, Trial

KINDS = ("baseline", "bias", "weight", "scheme")  # scheme: a candidate of the measured search
FIX = "give the JSON file that `tvm-tinytrain analyze MODEL --data SPEC --out FILE` wrote (docs/training.md)"
# config fields and their types (what `analyze` records); all but model and lr are optional
CONFIG_TYPES = {"model": str, "data": str, "train_per_class": (int, type(None)), "test_per_class": (int, type(None)),
                "epochs": int, "lr": (int, float), "seed": int, "warmup_epochs": (int, float),
                "scheme_options": dict}  # scheme_options: keys and values checked by compile


def load_results(path) -> dict:
    """The results of `path` after checking every field; TinyTrainError naming the first bad one."""
    results = read_json(path, "contribution results", FIX)
    where = f"contribution results {path}"
    for key in ("config", "runs"):
        if not isinstance(results.get(key), dict):
            found = "missing" if key not in results else f"not an object ({type(results[key]).__name__})"
            raise TinyTrainError(f"{where}: field {key!r} is {found}; {FIX}")
    check_config(results["config"], where)
    for key, run in results["runs"].items():
        _check_run(key, run, f"{where}: run {key!r}")
    return results


def check_config(config: dict, where: str):
    for key in ("model", "lr"):
        if key not in config:
            raise TinyTrainError(f"{where}: config has no field {key!r}; {FIX}")
    for key, value in config.items():
        expected = CONFIG_TYPES.get(key)
        if expected is None:
            continue  # fields of a newer version are carried along, never interpreted
        if isinstance(value, bool) or not isinstance(value, expected):
            raise TinyTrainError(f"{where}: config field {key!r} has the wrong type ({value!r:.60}); {FIX}")
    if not (math.isfinite(config["lr"]) and config["lr"] > 0):
        raise TinyTrainError(f"{where}: config field 'lr' = {config['lr']!r} is not a positive learning rate; {FIX}")


def _check_run(key, run, where: str):
    if not isinstance(run, dict):
        raise TinyTrainError(f"{where} is not an object; {FIX}")
    kind = run.get("kind")
    if kind not in KINDS:
        raise TinyTrainError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}; {FIX}")
    accuracy = run.get("accuracy")
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
        raise TinyTrainError(f"{where}: accuracy {accuracy!r:.40} is not a number in 0..1; {FIX}")
    k, layer, ratio = run.get("k", 0), run.get("layer", -1), run.get("ratio", 0.0)
    for name, value in (("k", k), ("layer", layer)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TinyTrainError(f"{where}: {name} {value!r:.40} is not an integer; {FIX}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise TinyTrainError(f"{where}: ratio {ratio!r:.40} is not a number; {FIX}")
    if kind == "bias" and k < 1:
        raise TinyTrainError(f"{where}: a bias run needs k >= 1, found {k}; {FIX}")
    if kind == "weight" and (layer < 0 or ratio not in RATIOS):
        raise TinyTrainError(f"{where}: a weight run needs layer >= 0 and a ratio in "
                             f"{', '.join(f'{r:g}' for r in RATIOS)}, found layer {layer}, ratio {ratio!r}; {FIX}")
    weights = ()
    if kind == "scheme":
        weights = _scheme_weights(run.get("weights"), where)
        if k < 0:
            raise TinyTrainError(f"{where}: a scheme run needs k >= 0, found {k}; {FIX}")
    expected = Trial(kind, k=k, layer=layer, ratio=ratio, weights=weights).key
    if key != expected:
        raise TinyTrainError(f"{where} records the run {expected!r}: the key and the fields disagree; {FIX}")


def _scheme_weights(weights, where: str) -> tuple:
    """A scheme run's weights: [[layer, ratio], ...], layers distinct and ascending."""
    pairs = weights if isinstance(weights, list) else [None]
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)
                and not isinstance(pair[0], bool) and pair[0] >= 0 and pair[1] in RATIOS
                and not isinstance(pair[1], bool)):
            raise TinyTrainError(f"{where}: weights {weights!r:.60} is not a list of [layer >= 0, ratio in "
                                 f"{', '.join(f'{r:g}' for r in RATIOS)}] pairs; {FIX}")
    layers = [layer for layer, _ in pairs]
    if layers != sorted(set(layers)):
        raise TinyTrainError(f"{where}: the layers of weights {layers!r:.60} are not distinct and ascending; {FIX}")
    return tuple((layer, float(ratio)) for layer, ratio in pairs)


def same_model(recorded: str, given: str) -> bool:
    """Whether the MODEL of the command line is the model the analysis recorded."""
    if recorded == given:
        return True
    a, b = Path(recorded).expanduser(), Path(given).expanduser()
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def check_layers(results: dict, graph, where: str):
    """Every weight run names a conv of `graph` (the classifier is always trained)."""
    n_conv = len(graph.weight_layers()) - 1
    for key, run in results["runs"].items():
        if run["kind"] == "weight" and run["layer"] >= n_conv:
            raise TinyTrainError(f"{where}: run {key!r} names conv {run['layer']}, but {graph.name} has convs "
                                 f"0..{n_conv - 1}; the results belong to another model")
        if run["kind"] == "scheme" and any(layer >= n_conv for layer, _ in run["weights"]):
            raise TinyTrainError(f"{where}: run {key!r} names a conv beyond {graph.name}'s convs "
                                 f"0..{n_conv - 1}; the results belong to another model")
        if run["kind"] in ("bias", "scheme") and run["k"] > n_conv:
            raise TinyTrainError(f"{where}: run {key!r} updates the biases of the last {run['k']} convs, but "
                                 f"{graph.name} has {n_conv}; the results belong to another model")
