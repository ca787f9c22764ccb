"""The paper's three int8 ImageNet backbones, loaded as quantized layer graphs.

The files are numpy-only (`<name>.npz` + `<name>.json`, see `convert_weights.py` for how
a released `.pkl` becomes one): nothing here unpickles.  Layer names follow the json
(`first_conv`, `blocks.3.depthwise`, `blocks.3.residual`, `classifier`), and the scheme
index of each conv follows the order of the file (first conv = 0).

Every field is validated as it is read (`backbone_file.py`) and every layer against the one
before it, so a bad file is one error naming file, layer and field.  A backbone loaded by
name must also have the paper's structure (`PAPER_STRUCTURE`): the paper's presets and
scheme indices name its layers by position, so on a file with a block removed or duplicated
they would land on the wrong layers.  A `.json` loaded by path is the user's own model and
only needs to be consistent; if it bears a paper name without the paper's structure it is
named `<name>-custom`, so the paper's presets are not applied to it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .backbone_file import BackboneFile, join
from .errors import TinyTrainError, WeightFileError
from .graph import INPUT, Graph, Layer, QParams
from .paths import find_data
from .quantization.requant import add_requant, overflow_safe_bias, weight_layer_requant

BACKBONES = ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3")
BLOCK_CONVS = ("pointwise1", "depthwise", "pointwise2")
NEW_HEAD_LOGIT_SCALE = 1.0 / 16  # int8 logits of a fresh head cover about +-8
MAX_SIZE = 4096      # channels, pixels
MAX_STRIDE = 8
MAX_KERNEL = 15
# conv layers before the classifier, and `structure_digest` of the paper's file
PAPER_STRUCTURE = {
    "mcunet-5fps": (42, "3dc833fd59dde3b7252aeb4afa2c716f38cbdcf1a4da4142cb72c26ac184dbe8"),
    "mbv2-w0.35": (51, "cba2ef23a5d9cd66e39c04f80949a308440df0b4e0684d99da7c20be623340de"),
    "proxyless-w0.3": (60, "4df27bba1f65acf784186f61882d1b360eef3df678afa6dd093c40f7579d90f3"),
}


def load_backbone(name: str, num_classes: int | None = None, seed: int = 0) -> Graph:
    """A paper backbone by name (or a path to a converted `.json`) as an int8 Graph.

    With `num_classes`, the 1000-way ImageNet classifier is replaced by a new head of that
    many outputs (seeded random int8 weights, zero bias) for transfer learning.
    """
    json_path = _locate(name)
    with BackboneFile(json_path) as f:
        graph = _build(json_path.stem, f)
    _check_paper_structure(graph, json_path, by_name=name in BACKBONES)
    if num_classes is not None:
        replace_classifier(graph, num_classes, seed)
    return graph.check()


def _locate(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".json":
        if not path.is_file():
            state = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise WeightFileError(f"backbone file {path} {state}; pass the path of a converted backbone .json")
        return path
    if name not in BACKBONES:
        raise TinyTrainError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)} "
                             f"(or pass the path of a converted .json)")
    return find_data("backbones", f"weights/tiny-training-int8/{name}.json")


def structure_digest(graph: Graph) -> str:
    """sha256 of what the paper's presets depend on: every layer's op, wiring, shapes, stride, groups."""
    rows = [list(graph.input_shape)] + [
        [layer.name, layer.op, list(layer.inputs), list(layer.out_shape), layer.attrs.get("stride"),
         layer.attrs.get("groups"), list(layer.params["weight"].shape) if layer.has_weights else None]
        for layer in graph.layers]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _check_paper_structure(graph: Graph, path: Path, by_name: bool):
    expected = PAPER_STRUCTURE.get(graph.name)
    if expected is None:
        return
    convs = len(graph.weight_layers()) - 1
    if (convs, structure_digest(graph)) == expected:
        return
    if not by_name:
        graph.name = f"{graph.name}-custom"
        return
    detail = (f"{convs} conv layers before the classifier, the paper's has {expected[0]}" if convs != expected[0]
              else "a layer's kernel, stride, groups, channels or wiring differs from the paper's")
    raise WeightFileError(f"{path} is not the paper's {graph.name} ({detail}), so the paper's presets and scheme "
                          f"indices would land on the wrong layers; restore the file (sha256sum -c SHA256SUMS in the "
                          f"datasets folder), or load it by path ({path}) to use it as a model of your own")


def _build(name: str, f: BackboneFile) -> Graph:
    spec = f.spec
    first = f.obj(f.field(spec, "first_conv", ""), "first_conv")
    p = f.obj(f.field(first, "params", "first_conv"), "first_conv.params")
    size = f.integer(first, "in_shape", "first_conv", 1, MAX_SIZE)
    graph = Graph(name, (f.integer(first, "in_channel", "first_conv", 1, MAX_SIZE), size, size), [],
                  input_q=QParams(f.scale(p, "x_scale", "first_conv.params"), f.zero(p, "x_zero", "first_conv.params")))
    current = _add_conv(graph, f, "first_conv", first, INPUT)
    blocks = f.field(spec, "blocks", "")
    if not isinstance(blocks, list):
        raise f.error("blocks", f"is {type(blocks).__name__}, expected a list of blocks")
    for i, block in enumerate(blocks):
        where = f"blocks.{i}"
        f.obj(block, where)
        if block.get("se") is not None:
            raise f.error(f"{where}.se", "is a squeeze-and-excite layer, which is not supported (only null)")
        parts = [part for part in BLOCK_CONVS if block.get(part) is not None]
        if not parts:
            raise f.error(where, f"has none of {', '.join(BLOCK_CONVS)}; a block needs at least one conv")
        block_input = current
        for part in parts:
            current = _add_conv(graph, f, f"{where}.{part}", block[part], current)
        if block.get("residual") is not None:
            current = _add_residual(graph, f, f"{where}.residual", block["residual"], block_input, current)
    if spec.get("feature_mix") is not None:
        current = _add_conv(graph, f, "feature_mix", spec["feature_mix"], current)
    current = _add_global_pool(graph, current)
    graph.output = _add_conv(graph, f, "classifier", f.field(spec, "classifier", ""), current, linear=True)
    graph.renumber()
    return graph


def _add_conv(graph: Graph, f: BackboneFile, name: str, layer: dict, src: str, linear=False) -> str:
    f.obj(layer, name)
    if layer.get("act") is not None:
        raise f.error(f"{name}.act", f"is {layer['act']!r:.40}: the activation is not folded into the output "
                                     f"range; only act=null layers are supported")
    in_shape = graph.shape_of(src)
    c = in_shape[0]
    source = "the input" if src == INPUT else f"its input {src}"
    in_c = f.integer(layer, "in_channel", name, 1, MAX_SIZE)
    if in_c != c:
        raise f.error(f"{name}.in_channel", f"is {in_c}, but {source} has {c} channels")
    o = f.integer(layer, "out_channel", name, 1, MAX_SIZE)
    kernel = f.field(layer, "kernel_size", name)
    if not (isinstance(kernel, list) and len(kernel) == 2 and kernel[0] == kernel[1] and type(kernel[0]) is int
            and kernel[0] % 2 == 1 and 1 <= kernel[0] <= (1 if linear else MAX_KERNEL)):
        limit = "[1, 1] for the classifier" if linear else f"[k, k] with k odd, 1..{MAX_KERNEL} (padding k//2)"
        raise f.error(f"{name}.kernel_size", f"is {kernel!r:.40}, expected {limit}")
    k = kernel[0]
    stride = f.integer(layer, "stride", name, 1, 1 if linear else MAX_STRIDE)
    groups = f.integer(layer, "groups", name, 1, 1 if linear else c)
    if c % groups or o % groups:
        raise f.error(f"{name}.groups", f"is {groups}, expected a divisor of both in_channel {c} and out_channel {o}")
    if type(layer.get("depthwise")) not in (type(None), bool) or (layer.get("depthwise") and groups != c):
        raise f.error(f"{name}.depthwise", f"is {layer['depthwise']!r:.40} with groups={groups} and {c} input "
                                           f"channels (a depthwise conv has groups = in_channel)")
    if not linear:
        if f.integer(layer, "in_shape", name, 1, MAX_SIZE) != in_shape[1]:
            raise f.error(f"{name}.in_shape", f"is {layer['in_shape']}, but {source} is {in_shape[1]}x{in_shape[2]}")
        out_hw = (in_shape[1] + 2 * (k // 2) - k) // stride + 1
        if f.integer(layer, "out_shape", name, 1, MAX_SIZE) != out_hw:
            raise f.error(f"{name}.out_shape", f"is {layer['out_shape']}, but a {k}x{k} stride-{stride} conv of "
                                               f"{in_shape[1]}x{in_shape[2]} gives {out_hw}x{out_hw}")
    pw = join(name, "params")
    p = f.obj(f.field(layer, "params", name), pw)
    x_q = QParams(f.scale(p, "x_scale", pw), f.zero(p, "x_zero", pw))
    _check_same_q(graph, f, src, x_q, pw)
    out_q = QParams(f.scale(p, "y_scale", pw), f.zero(p, "y_zero", pw))
    why = f"out_channel {o}, in_channel {c} / groups {groups}, kernel {k}"
    weight = f.array(p, "weight", pw, "int8", (o, c // groups, k, k), why)
    bias = f.array(p, "bias", pw, "int32", (o,), f"out_channel {o}")
    w_scale = f.array(p, "w_scales", pw, "float32", (o,), f"out_channel {o}")
    bad = np.flatnonzero(~(np.isfinite(w_scale) & (w_scale > 0)))
    if bad.size:
        raise f.error(f"{pw}.w_scales", f"has {bad.size} zero, negative or non-finite values (channel {bad[0]}: "
                                        f"{w_scale[bad[0]]}); every channel's scale must be positive and finite")
    try:
        requant = weight_layer_requant(x_q, w_scale, out_q)
    except TinyTrainError as err:
        raise f.error(pw, f"has scales the int8 arithmetic cannot represent ({err})") from None
    params = {"weight": weight, "bias": overflow_safe_bias(bias, weight), "w_scale": w_scale, **requant}
    if linear:
        params["weight"] = weight.reshape(o, -1)
        graph.layers.append(Layer(name, "linear", (src,), (o,), {"act_min": -128, "act_max": 127},
                                  params, out_q))
        return name
    attrs = {"stride": stride, "padding": (k // 2,) * 4, "groups": groups, "act_min": -128, "act_max": 127}
    graph.layers.append(Layer(name, "conv2d", (src,), (o, out_hw, out_hw), attrs, params, out_q))
    return name


def _add_residual(graph: Graph, f: BackboneFile, name: str, residual: dict, block_input: str, branch: str) -> str:
    pw = join(name, "params")
    p = f.obj(f.field(f.obj(residual, name), "params", name), pw)
    if graph.shape_of(block_input) != graph.shape_of(branch):
        raise f.error(name, f"adds the block's input {block_input} {list(graph.shape_of(block_input))} to "
                            f"{branch} {list(graph.shape_of(branch))}: the shapes differ, so the block cannot "
                            f"have a residual (residual must be null)")
    _check_same_q(graph, f, block_input, QParams(f.scale(p, "x_scale", pw), f.zero(p, "x_zero", pw)), pw)
    out_q = QParams(f.scale(p, "y_scale", pw), f.zero(p, "y_zero", pw))
    try:
        requant = add_requant(graph.q_of(block_input), graph.q_of(branch), out_q)
    except TinyTrainError as err:
        raise f.error(pw, f"has scales the int8 arithmetic cannot represent ({err})") from None
    attrs = {**requant, "act_min": -128, "act_max": 127}
    graph.layers.append(Layer(name, "add", (block_input, branch), graph.shape_of(branch), attrs, {}, out_q))
    return name


def _add_global_pool(graph: Graph, src: str) -> str:
    """Global average pool then flatten; the pooled tensor keeps its input's quantization."""
    c = graph.shape_of(src)[0]
    q = graph.q_of(src)
    graph.layers.append(Layer("pool", "avgpool", (src,), (c, 1, 1), {}, {}, q))
    graph.layers.append(Layer("flatten", "flatten", ("pool",), (c,), {}, {}, q))
    return "flatten"


def replace_classifier(graph: Graph, num_classes: int, seed: int = 0):
    """Swap the last linear layer for a fresh `num_classes`-way int8 head."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise TinyTrainError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    head = graph.layer(graph.output)
    if head.op != "linear":
        raise TinyTrainError(f"{graph.name}: the output layer {head.name!r} is a {head.op}, not a classifier")
    in_features = head.params["weight"].shape[1]
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(in_features)
    real = rng.uniform(-bound, bound, size=(num_classes, in_features))
    w_scale = (np.abs(real).max(axis=1) / 127.0).astype(np.float32)
    weight = np.clip(np.round(real / w_scale[:, None]), -127, 127).astype(np.int8)
    out_q = QParams(NEW_HEAD_LOGIT_SCALE, 0)
    head.params = {"weight": weight, "bias": np.zeros(num_classes, np.int32), "w_scale": w_scale,
                   **weight_layer_requant(graph.q_of(head.inputs[0]), w_scale, out_q)}
    head.out_shape = (num_classes,)
    head.out_q = out_q


def _check_same_q(graph: Graph, f: BackboneFile, src: str, declared: QParams, where: str):
    actual = graph.q_of(src)
    if actual.zero != declared.zero or not np.isclose(actual.scale, declared.scale, rtol=1e-6):
        raise f.error(where, f"declares input quantization (x_scale={declared.scale:.6g}, x_zero={declared.zero}) "
                             f"but its input {src!r} is quantized with (scale={actual.scale:.6g}, zero={actual.zero})")
