"""The paper's three int8 ImageNet backbones, loaded as quantized layer graphs.

The files are numpy-only (`<name>.npz` + `<name>.json`, see `convert_weights.py` for how
a released `.pkl` becomes one): nothing here unpickles.  Layer names follow the json
(`first_conv`, `blocks.3.depthwise`, `blocks.3.residual`, `classifier`), and the scheme
index of each conv follows the order of the file (first conv = 0).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import TinyTrainError, WeightFileError
from .graph import INPUT, Graph, Layer, QParams
from .paths import weights_dir
from .quantization.requant import add_requant, overflow_safe_bias, weight_layer_requant

BACKBONES = ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3")
BLOCK_CONVS = ("pointwise1", "depthwise", "pointwise2")
NEW_HEAD_LOGIT_SCALE = 1.0 / 16  # int8 logits of a fresh head cover about +-8


def load_backbone(name: str, num_classes: int | None = None, seed: int = 0) -> Graph:
    """A paper backbone by name (or a path to a converted `.json`) as an int8 Graph.

    With `num_classes`, the 1000-way ImageNet classifier is replaced by a new head of that
    many outputs (seeded random int8 weights, zero bias) for transfer learning.
    """
    json_path = _locate(name)
    spec = _read_json(json_path)
    arrays = _ArrayFile(json_path.with_suffix(".npz"))
    graph = _build(json_path.stem, spec, arrays)
    if num_classes is not None:
        replace_classifier(graph, num_classes, seed)
    return graph.check()


def _locate(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".json":
        if not path.is_file():
            raise WeightFileError(f"backbone file {path} does not exist")
        return path
    if name not in BACKBONES:
        raise TinyTrainError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)} "
                             f"(or pass the path of a converted .json)")
    path = weights_dir() / f"{name}.json"
    if not path.is_file():
        raise WeightFileError(f"backbone {name!r}: {path} is missing. Set TINYTRAIN_DATA to the datasets "
                              f"folder, or convert the paper's {name}.pkl with `tvm-tinytrain convert-weights`")
    return path


def _read_json(path: Path) -> dict:
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightFileError(f"{path}: not a readable JSON model description ({err})") from None
    if not isinstance(spec, dict):
        raise WeightFileError(f"{path}: expected a JSON object at the top level, found {type(spec).__name__}")
    return spec


class _ArrayFile:
    """The npz beside a json; arrays are fetched by the `{"__array__": key}` placeholders."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise WeightFileError(f"{path} is missing (the arrays of {path.with_suffix('.json').name})")
        try:
            self.npz = np.load(path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise WeightFileError(f"{path}: not a readable npz file ({err})") from None

    def get(self, placeholder, where: str, dtype: str) -> np.ndarray:
        if not (isinstance(placeholder, dict) and "__array__" in placeholder):
            raise WeightFileError(f"{self.path.with_suffix('.json')}: {where} should be an array placeholder, "
                                  f"found {placeholder!r:.60}")
        key = placeholder["__array__"]
        try:
            array = self.npz[key]
        except KeyError:
            raise WeightFileError(f"{self.path}: array {key!r} ({where}) is missing") from None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise WeightFileError(f"{self.path}: array {key!r} is corrupt ({err})") from None
        if str(array.dtype) != dtype or list(array.shape) != list(placeholder.get("shape", array.shape)):
            raise WeightFileError(f"{self.path}: array {key!r} is {array.dtype}{list(array.shape)}, "
                                  f"expected {dtype}{placeholder.get('shape')}")
        return array


def _field(obj: dict, key: str, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise WeightFileError(f"model description: {where} has no field {key!r}")
    return obj[key]


def _build(name: str, spec: dict, arrays: _ArrayFile) -> Graph:
    first = _field(spec, "first_conv", "top level")
    p = _field(first, "params", "first_conv")
    in_size = int(_field(first, "in_shape", "first_conv"))
    graph = Graph(name, (int(first["in_channel"]), in_size, in_size), [],
                  input_q=QParams(float(p["x_scale"]), int(p["x_zero"])))
    current = _add_conv(graph, "first_conv", first, INPUT, arrays)
    for i, block in enumerate(_field(spec, "blocks", "top level")):
        block_input = current
        for part in BLOCK_CONVS:
            if block.get(part) is not None:
                current = _add_conv(graph, f"blocks.{i}.{part}", block[part], current, arrays)
        if block.get("residual") is not None:
            current = _add_residual(graph, f"blocks.{i}.residual", block["residual"], block_input, current)
    if spec.get("feature_mix") is not None:
        current = _add_conv(graph, "feature_mix", spec["feature_mix"], current, arrays)
    current = _add_global_pool(graph, current)
    graph.output = _add_conv(graph, "classifier", _field(spec, "classifier", "top level"), current, arrays,
                             linear=True)
    graph.renumber()
    return graph


def _add_conv(graph: Graph, name: str, layer: dict, src: str, arrays: _ArrayFile, linear=False) -> str:
    p = _field(layer, "params", name)
    if layer.get("act") is not None:
        raise WeightFileError(f"{name}: activation {layer['act']!r} is not folded into the output range; "
                              f"only act=null layers are supported")
    x_q = QParams(float(_field(p, "x_scale", name)), int(_field(p, "x_zero", name)))
    _check_same_q(graph, src, x_q, name)
    weight = arrays.get(p.get("weight"), f"{name}.weight", "int8")
    w_scale = arrays.get(p.get("w_scales"), f"{name}.w_scales", "float32")
    out_q = QParams(float(_field(p, "y_scale", name)), int(_field(p, "y_zero", name)))
    bias = overflow_safe_bias(arrays.get(p.get("bias"), f"{name}.bias", "int32"), weight)
    params = {"weight": weight, "bias": bias,
              "w_scale": w_scale, **weight_layer_requant(x_q, w_scale, out_q)}
    o = weight.shape[0]
    if linear:
        params["weight"] = weight.reshape(o, -1)
        graph.layers.append(Layer(name, "linear", (src,), (o,), {"act_min": -128, "act_max": 127},
                                  params, out_q))
        return name
    k = int(weight.shape[2])
    stride = int(_field(layer, "stride", name))
    c, h, w = graph.shape_of(src)
    pad = k // 2
    out_hw = ((h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    attrs = {"stride": stride, "padding": (pad, pad, pad, pad), "groups": int(_field(layer, "groups", name)),
             "act_min": -128, "act_max": 127}
    if weight.shape[1] * attrs["groups"] != c:
        raise WeightFileError(f"{name}: weight {list(weight.shape)} with groups={attrs['groups']} "
                              f"does not match {c} input channels")
    graph.layers.append(Layer(name, "conv2d", (src,), (o, *out_hw), attrs, params, out_q))
    return name


def _add_residual(graph: Graph, name: str, residual: dict, block_input: str, branch: str) -> str:
    p = _field(residual, "params", name)
    _check_same_q(graph, block_input, QParams(float(p["x_scale"]), int(p["x_zero"])), name)
    out_q = QParams(float(p["y_scale"]), int(p["y_zero"]))
    attrs = {**add_requant(graph.q_of(block_input), graph.q_of(branch), out_q), "act_min": -128, "act_max": 127}
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


def _check_same_q(graph: Graph, src: str, declared: QParams, name: str):
    actual = graph.q_of(src)
    if actual.zero != declared.zero or not np.isclose(actual.scale, declared.scale, rtol=1e-6):
        raise WeightFileError(f"{name}: declares input quantization (scale={declared.scale:.6g}, "
                              f"zero={declared.zero}) but its input {src!r} is quantized with "
                              f"(scale={actual.scale:.6g}, zero={actual.zero})")
