"""Sparse-update schemes: the JSON format, the presets and the paper's schemes, resolved
against a graph into a `Scheme` (tvm_tinytrain/scheme.py), the only form training uses.

A scheme is a JSON object (a file, a dict, or what a preset expands to):

    {
      "name": "my-scheme",              optional; default: the file's stem / preset name
      "model": "mcunet-5fps",           optional; if given, the graph must have this name
      "about": "free text",             optional; ignored
      "n_bias_update": 22,              biases of the last n conv layers (the weight layers
                                        other than the classifier), counted from the end (22
                                        on MCUNet: convs 20..41); an int 0..#convs or "all";
                                        default 0.  The classifier is never counted: its bias
                                        comes from train_classifier or bias_layers
      "bias_layers": [5, "stem.0"],     optional; more layers whose bias is updated
      "weight_layers": [21, "blocks.8.pointwise1"],   layers whose weights are updated, by
                                        scheme index (int) or layer name (str); default []
      "weight_ratios": [1, 0.125],      one per weight layer, each 0, 1/8, 1/4, 1/2 or 1:
                                        k = round(r * C_in) leading input channels are
                                        updated (0: not updated); default all 1
      "train_classifier": true,         the output layer's whole weight and its bias (default)
      "lr_weight": 0.05, "lr_bias": 0.05, "qas": true, "fp32_classifier": false
    }

The scheme index of a layer is its position among the conv2d/linear layers, first conv
from the input = 0, classifier last (`Layer.conv_index`, the `index` column of
`tvm-tinytrain inspect MODEL`); these are the paper's indices.  For a depthwise conv
C_in is its channel count (= groups: the first k rows of its (C, 1, kh, kw) weight; with a
channel multiplier m, weight (m * C, 1, kh, kw), the first k * m rows: the m each of the
leading k channels feeds);
for any other conv or linear layer it is `weight.shape[1]` (the slice weight[:, :k]; for a
grouped conv the inputs of one group: the leading k of each group's channels).

Presets: `bias-only`, `last-<k>`, `full`, and `paper-<NN>kb` (the paper's released
schemes for the graph's backbone, tvm_tinytrain/paper_schemes.json).  docs/schemes.md
has the details and the table of the paper's schemes.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
from pathlib import Path

from . import options as _options
from .errors import TinyTrainError
from .graph import WEIGHT_OPS, Graph, Layer
from .json_files import read_json
from .outputs import atomic_write
from .scheme import Scheme

RATIOS = _options.RATIOS
KEYS, OVERRIDES = _options.KEYS, _options.OVERRIDES  # declared in options.py, with their checks and defaults
PRESETS = ("bias-only", "last-<k>", "full", "paper-<NN>kb")
PAPER_FILE = Path(__file__).with_name("paper_schemes.json")
PAPER_ALIAS_TOLERANCE = 0.05  # paper-100kb -> the model's 99kb/98kb scheme: nearest within 5%

# every preset (and a scheme file without rates) takes the defaults of options.py: learning rates
# 0.05, tuned on the paper's backbones; on another model `train --lr auto` chooses one (training/lr_range.py)
_DEFAULTS = _options.DEFAULTS


# --------------------------------------------------------------------------- public API

def resolve_scheme(spec, graph: Graph, **overrides) -> Scheme:
    """A preset name, a path to a JSON scheme file, or a dict -> the Scheme for `graph`.

    `overrides` (lr_weight, lr_bias, qas, fp32_classifier, momentum, float_copy, loss; None = keep) win over the spec.
    """
    spec, where, default_name = _load(spec, graph)
    spec = dict(spec)
    bad = sorted(set(overrides) - set(OVERRIDES))
    if bad:
        raise TinyTrainError(f"resolve_scheme: unknown override {', '.join(map(repr, bad))}; "
                             f"the overrides are {', '.join(OVERRIDES)}")
    for key, value in overrides.items():
        if value is not None:
            _options.check_value(key, value, "override")
            spec[key] = value
    return _resolve(spec, graph, where, default_name)


def load_spec(spec, graph: Graph) -> dict:
    """The JSON form of a preset, file or dict (checked against `graph`), e.g. to edit and save."""
    spec, where, default_name = _load(spec, graph)
    _resolve(spec, graph, where, default_name)  # validates
    return {"name": default_name, **spec} if "name" not in spec else dict(spec)


def save_scheme(scheme_dict: dict, path) -> Path:
    """Write a scheme dict as a JSON scheme file (its keys and values are checked first)."""
    if not isinstance(scheme_dict, dict):
        raise TinyTrainError(f"save_scheme: expected a scheme dict, got {type(scheme_dict).__name__}")
    _check_fields(scheme_dict, "scheme to save")
    path = Path(path)
    try:
        atomic_write(path, json.dumps(scheme_dict, indent=1) + "\n")
    except OSError as err:
        raise TinyTrainError(f"save_scheme: cannot write {path} ({err})") from None
    return path


def describe(scheme: Scheme, graph: Graph) -> str:
    """A short human-readable summary of a resolved scheme on `graph`."""
    index = {layer.name: layer.conv_index for layer in graph.layers}
    head = graph.output
    body_weights = [(name, k) for name, k in scheme.weights.items() if name != head]
    n_w = sum(_weight_elements(graph.layer(name), k) for name, k in scheme.weights.items())
    n_b = sum(int(graph.layer(name).params["bias"].size) for name in scheme.bias)
    lines = [f"scheme {scheme.name!r} on {graph.name}: {len(scheme.bias)} bias layers, "
             f"{len(body_weights)} weight layers + classifier {'trained' if head in scheme.weights else 'frozen'}; "
             f"{_options.summary(scheme)}"]
    if (scheme.lr_weight, scheme.lr_bias) == (_DEFAULTS["lr_weight"], _DEFAULTS["lr_bias"]):
        lines.append(f"  rates:   the presets' {scheme.lr_weight:g}, tuned on the paper's backbones; on another model "
                     f"let `train --lr auto` choose one")
    if scheme.bias:
        lines.append(f"  biases:  indices {_ranges([index[n] for n in scheme.bias])} "
                     f"({scheme.bias[0]} .. {scheme.bias[-1]})")
    else:
        lines.append("  biases:  none")
    width = max((len(name) for name, _ in body_weights), default=0)
    for i, (name, k) in enumerate(body_weights):
        c_in = input_channels(graph.layer(name))
        lines.append(f"  {'weights:' if i == 0 else '':8} {index[name]:>3} {name:<{width}}  "
                     f"{k}/{c_in} input channels")
    if not body_weights:
        lines.append("  weights: none (besides the classifier)")
    if head in scheme.weights or head in scheme.bias:
        layer = graph.layer(head)
        parts = []
        if head in scheme.weights:
            parts.append(f"weight {scheme.weights[head]}/{input_channels(layer)} input channels")
        if head in scheme.bias:
            parts.append("bias")
        lines.append(f"  classifier: {head} ({index[head]}), {' and '.join(parts)}")
    else:
        lines.append(f"  classifier: {head} not trained")
    lines.append(f"  updated: {n_w:,} weights, {n_b:,} biases")
    return "\n".join(lines)


def input_channels(layer: Layer) -> int:
    """C_in of a weight layer for the ratio -> k rule (a depthwise conv: its channels, = groups)."""
    if _is_depthwise(layer):
        return int(layer.attrs["groups"])
    return int(layer.params["weight"].shape[1])


def blocks(graph: Graph) -> dict[str, list[str]]:
    """Block name -> its weight layers (graph order), the classifier excluded.

    The block of a layer is the module it belongs to, read from its name: up to the first
    numeric component that is not the last (`blocks.12.pointwise1` and
    `blocks.12.pointwise1.0` -> `blocks.12`, `features.3.conv.0.0` -> `features.3`);
    otherwise, after dropping a trailing numeric component, the prefix before the last dot
    (`layer2.conv1` and `layer2.downsample.0` -> `layer2`); a single name (`first_conv`,
    `stem.0` -> `stem`) is its own block.
    """
    found: dict[str, list[str]] = {}
    for layer in graph.weight_layers():
        if layer.name != graph.output:
            found.setdefault(block_of(layer.name), []).append(layer.name)
    return found


def block_of(name: str) -> str:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[:i + 1])
    if len(parts) > 1 and parts[-1].isdigit():
        parts = parts[:-1]
    return ".".join(parts[:-1]) if len(parts) > 1 else parts[0]


def paper_schemes(model: str | None = None) -> dict:
    """The paper's schemes: {model: {"99kb": {...}}}, or one model's {"99kb": {...}}."""
    try:
        models = json.loads(PAPER_FILE.read_text())["models"]
    except (OSError, ValueError, KeyError) as err:
        raise TinyTrainError(f"the packaged paper schemes {PAPER_FILE} are unreadable ({err}); "
                             f"reinstall tvm-tinytrain") from None
    return models if model is None else models.get(model, {})


def preset_names(graph: Graph) -> list[str]:
    """Every preset name valid for `graph` (last-<k> spelled out for each k)."""
    n_blocks = len(blocks(graph))
    names = ["bias-only", *(f"last-{k}" for k in range(1, n_blocks + 1)), "full"]
    return names + [f"paper-{kb}" for kb in paper_schemes(graph.name)]


# --------------------------------------------------------------------------- loading

def _load(spec, graph: Graph) -> tuple[dict, str, str]:
    """(the scheme dict, how to name it in errors, its default name)."""
    if isinstance(spec, dict):
        return spec, "scheme", "custom"
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and _looks_like_path(spec)):
        return _read_file(Path(spec))
    if not isinstance(spec, str):
        raise TinyTrainError(f"scheme: expected a preset name, a .json file or a dict, got {type(spec).__name__}")
    return _preset(spec, graph), f"preset {spec!r}", spec


def _looks_like_path(spec: str) -> bool:
    """A preset name always means the preset, even if a file of that name exists."""
    if re.fullmatch(r"bias-only|full|last-\d+|paper-\d+kb", spec):
        return False
    return spec.endswith(".json") or "/" in spec or os.sep in spec or Path(spec).exists()


def _read_file(path: Path) -> tuple[dict, str, str]:
    fix = (f"give a preset ({', '.join(PRESETS)}) or the path of a JSON scheme file "
           f"(docs/schemes.md shows the format)")
    return read_json(path, "scheme file", fix), f"scheme file {path}", path.stem


def _preset(name: str, graph: Graph) -> dict:
    if name == "bias-only":
        return {"n_bias_update": "all", "weight_layers": [], "train_classifier": True}
    if name == "full":
        names = [layer.name for layer in graph.weight_layers()]
        return {"n_bias_update": "all", "weight_layers": names, "weight_ratios": [1] * len(names),
                "train_classifier": True}
    match = re.fullmatch(r"last-(\d+)", name)
    if match:
        return _last_k(int(match.group(1)), graph)
    match = re.fullmatch(r"paper-(\d+)kb", name)
    if match:
        return _paper(int(match.group(1)), name, graph)
    raise TinyTrainError(f"unknown scheme {name!r}{_did_you_mean(name, preset_names(graph))}: not a preset and "
                         f"not a .json file. {_preset_help(graph)}")


def _last_k(k: int, graph: Graph) -> dict:
    found = blocks(graph)
    if not 1 <= k <= len(found):
        raise TinyTrainError(f"preset last-{k}: {graph.name} has {len(found)} blocks "
                             f"({_first_last(list(found))}; the classifier is not a block); "
                             f"use last-1 .. last-{len(found)}")
    names = [name for block in list(found)[-k:] for name in found[block]]
    return {"bias_layers": names, "weight_layers": names, "weight_ratios": [1] * len(names),
            "train_classifier": True}


def _paper(kb: int, name: str, graph: Graph) -> dict:
    models = paper_schemes()
    if graph.name not in models:
        raise TinyTrainError(f"preset {name}: the paper released schemes only for {', '.join(models)}; "
                             f"{graph.name!r} is not one of them. Use bias-only, last-<k> or full, or write "
                             f"a scheme file (docs/schemes.md)")
    available = models[graph.name]
    key = f"{kb}kb"
    if key not in available:
        nearest = min(available, key=lambda s: abs(int(s[:-2]) - kb))
        if abs(int(nearest[:-2]) - kb) > PAPER_ALIAS_TOLERANCE * kb:
            raise TinyTrainError(f"preset {name}: the paper has no such scheme for {graph.name}; its schemes are "
                                 f"{', '.join('paper-' + s for s in available)}")
        key = nearest
    entry = available[key]
    return {"name": f"paper-{key}", "model": graph.name, **{k: v for k, v in entry.items()},
            "train_classifier": True}


def _preset_help(graph: Graph) -> str:
    n_blocks = len(blocks(graph))
    text = (f"Presets: bias-only, last-<k> (k = 1..{n_blocks}: the last k blocks of {graph.name}), full")
    papers = paper_schemes(graph.name)
    if papers:
        text += (f"; the paper's schemes for {graph.name}: {', '.join('paper-' + s for s in papers)} "
                 f"(nearest-size aliases such as paper-100kb work too)")
    else:
        text += f"; the paper's schemes exist only for {', '.join(paper_schemes())}"
    return text


# --------------------------------------------------------------------------- checking

def _check_fields(spec: dict, where: str):
    """Keys and value types, without a graph."""
    unknown = [key for key in spec if key not in KEYS]
    if unknown:
        hints = _did_you_mean(unknown[0], KEYS, n=1)
        raise TinyTrainError(f"{where}: unknown key {', '.join(map(repr, unknown))}{hints}; "
                             f"the allowed keys are {', '.join(KEYS)}")
    for key, value in spec.items():
        _options.check_value(key, value, where)
    layers, ratios = spec.get("weight_layers", []), spec.get("weight_ratios")
    if ratios is not None and len(ratios) != len(layers):
        raise TinyTrainError(f"{where}: {len(layers)} weight_layers but {len(ratios)} weight_ratios; "
                             f"give one ratio per layer (or omit weight_ratios to update every listed layer fully)")


def _resolve(spec: dict, graph: Graph, where: str, default_name: str) -> Scheme:
    _check_fields(spec, where)
    model = spec.get("model")
    if model is not None and model != graph.name:
        raise TinyTrainError(f"{where} is written for model {model!r} but the graph is {graph.name!r}; its layer "
                             f"indices would name other layers. Use a scheme for {graph.name} "
                             f"(or remove \"model\" after checking the indices with `tvm-tinytrain inspect`)")
    weight_layers = graph.weight_layers()
    head = graph.output
    get = {**_DEFAULTS, **spec}.get

    # n_bias_update counts convs only, as the paper's training code does (its classifier is a
    # separate, always-trained layer): the last n weight layers other than the output layer.
    convs = [layer for layer in weight_layers if layer.name != head]
    n_convs = len(convs)
    bias: set[str] = set()
    n_bias = get("n_bias_update", 0)
    n_bias = n_convs if n_bias == "all" else n_bias
    if n_bias > n_convs:
        counted = f"indices 0..{n_convs - 1}" if n_convs else "none"
        head_note = ""
        if n_convs < len(weight_layers):
            counted += f"; the classifier {head!r} is not counted"
            head_note = " (the classifier's bias is updated by train_classifier, or list it in bias_layers)"
        raise TinyTrainError(f"{where}: n_bias_update = {n_bias} but {graph.name} has only {n_convs} conv layers "
                             f"({counted}); use at most {n_convs} or \"all\"{head_note}")
    bias.update(layer.name for layer in convs[n_convs - n_bias:])
    bias.update(_layer(ref, graph, where, "bias_layers").name for ref in get("bias_layers", []))

    refs = get("weight_layers", [])
    ratios = get("weight_ratios") or [1] * len(refs)
    weights: dict[str, int] = {}
    seen: dict[str, object] = {}
    for ref, ratio in zip(refs, ratios):
        layer = _layer(ref, graph, where, "weight_layers")
        if layer.name in seen:
            raise TinyTrainError(f"{where}: weight_layers names layer {layer.name!r} twice ({seen[layer.name]!r} "
                                 f"and {ref!r}); list each layer once")
        seen[layer.name] = ref
        if ratio:
            c_in = input_channels(layer)
            weights[layer.name] = max(1, min(c_in, round(ratio * c_in)))

    if get("train_classifier"):
        layer = graph.layer(head)
        if layer.op not in WEIGHT_OPS:
            raise TinyTrainError(f"{where}: train_classifier is true but the output layer {head!r} of {graph.name} "
                                 f"is {_a(layer.op)} with no weights; set train_classifier to false")
        full = input_channels(layer)
        if head in seen and weights.get(head, 0) != full:
            raise TinyTrainError(f"{where}: the classifier {head!r} is in weight_layers with a ratio below 1, but "
                                 f"train_classifier is true (it trains the whole classifier); remove it from "
                                 f"weight_layers or set train_classifier to false")
        weights[head] = full
        bias.add(head)

    order = [layer.name for layer in weight_layers]
    return Scheme(name=get("name") or default_name,
                  bias=tuple(name for name in order if name in bias),
                  weights={name: weights[name] for name in order if name in weights},
                  lr_weight=float(get("lr_weight")), lr_bias=float(get("lr_bias")),
                  qas=get("qas"), fp32_classifier=get("fp32_classifier"), momentum=float(get("momentum")),
                  float_copy=get("float_copy"),
                  loss=get("loss"))


def _layer(ref, graph: Graph, where: str, key: str) -> Layer:
    weight_layers = graph.weight_layers()
    if isinstance(ref, int):
        if not 0 <= ref < len(weight_layers):
            raise TinyTrainError(f"{where}: {key} has layer index {ref}, but {graph.name} has scheme indices "
                                 f"0..{len(weight_layers) - 1} ({len(weight_layers)} conv/linear layers, "
                                 f"{len(weight_layers) - 1} = {weight_layers[-1].name}); see "
                                 f"`tvm-tinytrain inspect` for the index of each layer")
        return weight_layers[ref]
    layer = next((layer for layer in graph.layers if layer.name == ref), None)
    if layer is None:
        names = [layer.name for layer in weight_layers]
        raise TinyTrainError(f"{where}: {key} names layer {ref!r}, which {graph.name} does not have"
                             f"{_did_you_mean(ref, names)}; its weight layers are {_first_last(names)} "
                             f"(`tvm-tinytrain inspect` lists them)")
    if not layer.has_weights:
        raise TinyTrainError(f"{where}: {key} names layer {ref!r}, {_a(layer.op)} layer with no weights or bias; "
                             f"only conv2d and linear layers can be updated")
    return layer


# --------------------------------------------------------------------------- helpers

def _is_depthwise(layer: Layer) -> bool:
    """groups > 1 and one input channel per row: (m * groups, 1, kh, kw), any channel multiplier m."""
    groups = layer.attrs.get("groups", 1)
    shape = layer.params["weight"].shape
    return layer.op == "conv2d" and groups > 1 and shape[1] == 1


def _weight_elements(layer: Layer, k: int) -> int:
    shape = layer.params["weight"].shape
    if _is_depthwise(layer):
        return k * (shape[0] // layer.attrs["groups"]) * math.prod(shape[1:])
    return shape[0] * k * math.prod(shape[2:])


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _did_you_mean(word: str, choices, n: int = 3) -> str:
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def _first_last(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return f"{names[0]}, {names[1]}, ..., {names[-1]}"


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(v) if v == start else f"{start}..{v}")
            start = None
    return ", ".join(out)
