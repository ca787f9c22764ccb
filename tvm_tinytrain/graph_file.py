"""The int8 layer-graph file (`FILE.json` + `FILE.npz`): any quantized model, written once by
`tvm-tinytrain quantize` and read by every command that takes MODEL (docs/graph-file.md).

Why a file: an fp32 model quantized per run gets new scales from each run's calibration
samples, so checkpoints and programs of "the same model" would disagree.  The file holds the
one int8 graph; `quantization_hash` names it in checkpoints and memory.json.

The json describes the general layer graph (tvm_tinytrain/graph.py): per layer its op, inputs,
output shape, attrs and output quantization, with each parameter a placeholder
`{"__array__": member, "dtype", "shape"}` of an array in the npz (numpy only, never pickle).
What follows from the stored scales (the fixed-point requantize multipliers and shifts) is not
stored: it is recomputed when loaded, so a file cannot make the integer arithmetic disagree with
the scales it declares.  A file travels between people: `load` checks every field, type, range
and shape, layer against layer, and raises one WeightFileError naming file, layer and field.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .backbone_file import _NPZ_ERRORS, _npy_header
from . import conv_geometry, pooling
from .errors import TinyTrainError, WeightFileError
from .graph import INPUT, OPS, Graph, Layer, QParams
from .json_files import read_json
from .quantization import concat, lut
from .quantization.requant import add_requant, bias_limit, mul_requant, weight_layer_requant

FORMAT = "tvm-tinytrain int8 layer graph"
VERSION = 1
FIX = "write it again with `tvm-tinytrain quantize MODEL --data SPEC --out FILE`"
MAX_SIZE = 1 << 16      # a dimension, stride, padding or kernel size
MAX_ELEMENTS = 1 << 24  # of one tensor: 16 MB of int8, far beyond a microcontroller's memory
MAX_LAYERS = 10_000
MAX_NPZ_BYTES = 1 << 30  # inflated; a microcontroller model is a few MB
ATTRS = {"conv2d": ("stride", "dilation", "padding", "groups", "act_min", "act_max"), "linear": ("act_min", "act_max"),
         "add": ("act_min", "act_max"), "avgpool": ("kernel", "stride", "padding", "count_include_pad"), "maxpool": ("kernel", "stride", "padding"),
         "flatten": ()}
ATTRS["lut"] = ("fn", "alpha")  # its table follows from fn, alpha and the quantization: recomputed, never stored
ATTRS["mul"] = ("act_min", "act_max")  # multiplier, shift: DERIVED
ATTRS["concat"] = ()  # multipliers, shifts: DERIVED
MAX_CONCAT_INPUTS = 256
PARAMS = {"conv2d": ("weight", "bias", "w_scale"), "linear": ("weight", "bias", "w_scale")}
# recomputed from the scales, never stored
DERIVED = ("multiplier", "shift", "multiplier_a", "multiplier_b", "multipliers", "shifts")


def paths(out) -> tuple[Path, Path]:
    """(FILE.json, FILE.npz) of `--out FILE` (FILE, FILE.json or FILE.npz)."""
    out = Path(out)
    json_path = out.with_suffix(".json") if out.suffix in (".json", ".npz") else out.with_name(out.name + ".json")
    return json_path, json_path.with_suffix(".npz")


def is_graph_file(spec: str) -> bool:
    """A `.json` naming this format, or whose top level has a "format" field (backbone files have
    none), is read by `load`, which then names whatever else is wrong with it."""
    path = Path(spec)
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        top = read_json(path, "model file", FIX)
    except TinyTrainError:  # unreadable: ours if it names the format (the backbone reader takes the rest)
        try:
            with path.open("rb") as f:
                return json.dumps(FORMAT).encode() in f.read(4096)
        except OSError:
            return False
    return "format" in top


# ------------------------------------------------------------------------------------- hash
def quantization_hash(graph: Graph) -> str:
    """sha256 of everything the int8 arithmetic depends on: wiring, shapes, attrs, every tensor's
    quantization and every parameter's bytes (not the model's name)."""
    if not graph.quantized:
        raise TinyTrainError(f"quantization_hash: graph {graph.name!r} is fp32; quantize it first")
    rows = [list(graph.input_shape), [graph.input_q.scale, graph.input_q.zero], graph.output]
    digest = hashlib.sha256()
    for layer in graph.layers:
        params = {k: [str(v.dtype), list(v.shape)] for k, v in sorted(layer.params.items())}
        rows.append([layer.name, layer.op, list(layer.inputs), list(layer.out_shape), layer.attrs,
                     [layer.out_q.scale, layer.out_q.zero], params])
        for key in sorted(layer.params):
            digest.update(np.ascontiguousarray(layer.params[key]).tobytes())
    digest.update(json.dumps(rows, sort_keys=True, default=_plain).encode())
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"{type(value).__name__} in a layer's attrs")


# ------------------------------------------------------------------------------------- save
def save(graph: Graph, out, provenance: dict | None = None) -> tuple[Path, Path]:
    """Write FILE.npz then FILE.json, each atomically (the json names the npz's content through
    the hash, so a kill between the two leaves a pair `load` refuses, never a wrong model)."""
    from .outputs import atomic_write

    if not graph.quantized:
        raise TinyTrainError(f"graph {graph.name!r} is fp32; only an int8 graph can be saved")
    json_path, npz_path = paths(out)
    arrays, layers = {}, []
    for i, layer in enumerate(graph.layers):
        if layer.op not in ATTRS:
            raise TinyTrainError(f"layer {layer.name!r}: op {layer.op} cannot be stored in a graph file "
                                 f"(version {VERSION})")
        params = {}
        for key in PARAMS.get(layer.op, ()):
            member = f"layer{i}.{key}"
            arrays[member] = np.ascontiguousarray(layer.params[key])
            params[key] = {"__array__": member, "dtype": str(arrays[member].dtype), "shape": list(arrays[member].shape)}
        attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in layer.attrs.items() if k not in DERIVED}
        layers.append({"name": layer.name, "op": layer.op, "inputs": list(layer.inputs),
                       "out_shape": list(layer.out_shape), "attrs": attrs,
                       "out_q": {"scale": layer.out_q.scale, "zero": layer.out_q.zero}, "params": params})
    spec = {"format": FORMAT, "version": VERSION, "model": graph.name, "input_shape": list(graph.input_shape),
            "input_q": {"scale": graph.input_q.scale, "zero": graph.input_q.zero}, "output": graph.output,
            "quantization_hash": quantization_hash(graph), **({"provenance": provenance} if provenance else {}),
            "layers": layers}
    blob = io.BytesIO()
    np.savez(blob, **arrays)
    atomic_write(npz_path, blob.getvalue())
    atomic_write(json_path, json.dumps(spec, indent=1, default=_plain) + "\n")
    return json_path, npz_path


# ------------------------------------------------------------------------------------- load
def load(path) -> Graph:
    """The int8 Graph of a graph file, every value checked (see the module docstring)."""
    json_path, npz_path = paths(path)
    spec = read_json(json_path, "graph file", FIX)
    return _Reader(json_path, npz_path, spec).graph()


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _found(value) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return "null" if value is None else text[:40] + ("..." if len(text) > 40 else "")


class _Reader:
    def __init__(self, path: Path, npz_path: Path, spec: dict):
        self.path, self.npz_path, self.spec = path, npz_path, spec
        self.shapes: dict[str, tuple] = {}
        self.qs: dict[str, QParams] = {}

    def fail(self, where: str, problem: str) -> WeightFileError:
        return WeightFileError(f"{self.path}: {where} {problem}; {FIX}")

    def field(self, obj: dict, key: str, where: str, kind: type | tuple, expected: str):
        if key not in obj:
            raise self.fail(_join(where, key), "is missing")
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(_join(where, key), f"is {_found(value)}, expected {expected}")
        return value

    def integer(self, obj, key, where, lo, hi) -> int:
        value = self.field(obj, key, where, int, f"an integer in {lo}..{hi}")
        if not lo <= value <= hi:
            raise self.fail(_join(where, key), f"is {value}, expected an integer in {lo}..{hi}")
        return value

    def ints(self, obj, key, where, lo, hi, count=None) -> tuple[int, ...]:
        what = f"a list of {count or 'one to three'} integers in {lo}..{hi}"
        value = self.field(obj, key, where, list, what)
        ok = len(value) == count if count else 1 <= len(value) <= 3
        if not ok or any(isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi for v in value):
            raise self.fail(_join(where, key), f"is {_found(value)}, expected {what}")
        return tuple(value)

    def shape(self, obj, key, where, count=None) -> tuple[int, ...]:
        """A tensor shape: ints() whose product (the tensor's size) is at most MAX_ELEMENTS."""
        value = self.ints(obj, key, where, 1, MAX_SIZE, count)
        if math.prod(value) > MAX_ELEMENTS:
            raise self.fail(_join(where, key), f"is {list(value)}, {math.prod(value):,} elements, more than the "
                                               f"{MAX_ELEMENTS:,} a tensor of a microcontroller model can have")
        return value

    def text(self, obj, key, where) -> str:
        value = self.field(obj, key, where, str, "a name (1..200 printable characters)")
        if not 1 <= len(value) <= 200 or not value.isprintable():
            raise self.fail(_join(where, key), f"is {_found(value)}, expected 1..200 printable "
                                                                f"characters")
        return value

    def qparams(self, obj, key, where) -> QParams:
        full = _join(where, key)
        q = self.field(obj, key, where, dict, "an object {scale, zero}")
        scale = self.field(q, "scale", full, (int, float), "a positive finite number")
        if not (math.isfinite(scale) and scale > 0):
            raise self.fail(f"{full}.scale", f"is {_found(scale)}, expected a positive finite number")
        return QParams(float(scale), self.integer(q, "zero", full, -128, 127))

    # -- the whole graph ------------------------------------------------------------------
    def graph(self) -> Graph:
        spec = self.spec
        fmt = spec.get("format")
        if fmt != FORMAT:
            raise self.fail("format", f"is {_found(fmt)}, expected {FORMAT!r} (not an int8 layer-graph file)")
        version = spec.get("version")
        if version != VERSION or isinstance(version, bool):
            raise self.fail("version", f"is {_found(version)}; this tvm-tinytrain reads version {VERSION} only "
                                       f"(a file from a newer tvm-tinytrain?)")
        name = self.text(spec, "model", "")
        shape = self.shape(spec, "input_shape", "", 3)
        input_q = self.qparams(spec, "input_q", "")
        self.shapes[INPUT], self.qs[INPUT] = shape, input_q
        rows = self.field(spec, "layers", "", list, "a list of layers")
        if not 1 <= len(rows) <= MAX_LAYERS:
            raise self.fail("layers", f"has {len(rows)} layers, expected 1..{MAX_LAYERS}")
        with self._npz() as archive:
            layers = [self.layer(archive, i, row) for i, row in enumerate(rows)]
        output = self.text(spec, "output", "")
        if output not in self.shapes or output == INPUT:
            raise self.fail("output", f"is {output!r}, which is no layer of the file")
        graph = Graph(name, shape, layers, input_q=input_q, output=output)
        try:
            graph.check()
        except TinyTrainError as err:
            raise self.fail("layers", f"do not form a graph ({err})") from None
        stored = self.field(spec, "quantization_hash", "", str, "the sha256 of the graph (64 hex digits)")
        if stored != quantization_hash(graph):
            raise self.fail("quantization_hash", f"is {stored[:16]}..., but the layers and the arrays of "
                                                 f"{self.npz_path.name} hash to {quantization_hash(graph)[:16]}...: "
                                                 f"the .npz belongs to another quantization, or a file was edited")
        return graph

    def _npz(self) -> zipfile.ZipFile:
        if not self.npz_path.is_file():
            raise WeightFileError(f"{self.npz_path} is missing (the arrays of {self.path.name}); keep the .npz "
                                  f"beside its .json, or {FIX}")
        try:
            archive = zipfile.ZipFile(self.npz_path)
            inflated = sum(info.file_size for info in archive.infolist())
        except _NPZ_ERRORS as err:
            raise WeightFileError(f"{self.npz_path}: not a readable npz file ({err}); {FIX}") from None
        if inflated > MAX_NPZ_BYTES:
            archive.close()
            raise WeightFileError(f"{self.npz_path} inflates to {inflated:,} bytes (more than {MAX_NPZ_BYTES:,}); "
                                  f"it is not the model of a microcontroller; {FIX}")
        return archive

    # -- one layer --------------------------------------------------------------------------
    def layer(self, archive, i: int, row) -> Layer:
        where = f"layers.{i}"
        if not isinstance(row, dict):
            raise self.fail(where, f"is {_found(row)}, expected an object")
        name = self.text(row, "name", where)
        where = f"layer {i} ({name!r})"
        if name in self.shapes:
            raise self.fail(f"{where}.name", "repeats an earlier layer's name (or 'input'); names are unique")
        op = self.field(row, "op", where, str, f"one of {', '.join(OPS)}")
        if op not in OPS or op not in ATTRS:
            known = ", ".join(o for o in OPS if o in ATTRS)
            raise self.fail(f"{where}.op", f"is {_found(op)}, expected one of {known}")
        inputs = self.field(row, "inputs", where, list, "a list of layer names")
        arity = 2 if op in ("add", "mul") else 1
        if op == "concat":
            if not 2 <= len(inputs) <= MAX_CONCAT_INPUTS or not all(isinstance(s, str) for s in inputs):
                raise self.fail(f"{where}.inputs", f"is {_found(inputs)}, expected 2 to {MAX_CONCAT_INPUTS} layer "
                                                   f"names (a concat joins two or more tensors)")
        elif len(inputs) != arity or not all(isinstance(s, str) for s in inputs):
            raise self.fail(f"{where}.inputs", f"is {_found(inputs)}, expected {arity} layer name(s)")
        for src in inputs:
            if src not in self.shapes:
                raise self.fail(f"{where}.inputs", f"reads {src!r}, which is not 'input' nor a layer before it")
        out_shape = self.shape(row, "out_shape", where)
        attrs = self.field(row, "attrs", where, dict, "an object")
        unknown = sorted(set(attrs) - set(ATTRS[op]))
        if unknown:
            raise self.fail(f"{where}.attrs", f"has {unknown[0]!r}, which a {op} layer does not have (it takes "
                                              f"{', '.join(ATTRS[op]) or 'none'})")
        out_q = self.qparams(row, "out_q", where)
        params = self.field(row, "params", where, dict, "an object")
        extra = sorted(set(params) - set(PARAMS.get(op, ())))
        if extra:
            raise self.fail(f"{where}.params", f"has {extra[0]!r}, which a {op} layer does not have (it takes "
                                               f"{', '.join(PARAMS.get(op, ())) or 'none'})")
        x_shapes = [self.shapes[s] for s in inputs]
        x_q = self.qs[inputs[0]]
        layer = Layer(name, op, tuple(inputs), out_shape, {}, {}, out_q)
        _CHECK[op](self, archive, layer, where, attrs, params, x_shapes, x_q)
        self.shapes[name], self.qs[name] = layer.out_shape, out_q
        return layer

    def expect_shape(self, layer, where, expected, why):
        if tuple(layer.out_shape) != tuple(expected):
            raise self.fail(f"{where}.out_shape", f"is {list(layer.out_shape)}, but {why} gives {list(expected)}")

    def rank(self, where, x_shape, n, op):
        if len(x_shape) != n:
            raise self.fail(f"{where}.inputs", f"is a {len(x_shape)}-D tensor {list(x_shape)}; a {op} layer reads "
                                               f"a {n}-D one")

    def act(self, layer, where, attrs):
        lo = self.integer(attrs, "act_min", f"{where}.attrs", -128, 127)
        hi = self.integer(attrs, "act_max", f"{where}.attrs", lo, 127)
        layer.attrs.update(act_min=lo, act_max=hi)

    def array(self, archive, params, key, where, dtype, shape, why) -> np.ndarray:
        name = f"{where}.params.{key}"
        placeholder = self.field(params, key, f"{where}.params", dict, "an array placeholder {__array__, dtype, "
                                                                         "shape}")
        member = self.field(placeholder, "__array__", name, str, f"the name of an array in {self.npz_path.name}")
        declared = (placeholder.get("dtype"), placeholder.get("shape"))
        if declared != (dtype, list(shape)):
            raise self.fail(name, f"is declared {_found(declared[0])} {_found(declared[1])}, expected "
                                  f"{dtype}{list(shape)} ({why})")
        try:
            with archive.open(member + ".npy") as fp:
                found = _npy_header(fp)
            if found != (np.dtype(dtype), tuple(shape)):
                raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is {found[0]}{list(found[1])}, "
                                      f"expected {dtype}{list(shape)} ({why}); {FIX}")
            with archive.open(member + ".npy") as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except KeyError:
            raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is missing; {FIX}") from None
        except _NPZ_ERRORS as err:
            raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is corrupt ({err}); {FIX}") from None

    def weights(self, archive, layer, where, params, x_q, w_shape, why):
        """weight, bias, w_scale (checked) and the recomputed multiplier / shift."""
        o = w_shape[0]
        weight = self.array(archive, params, "weight", where, "int8", w_shape, why)
        bias = self.array(archive, params, "bias", where, "int32", (o,), f"{o} output channels")
        w_scale = self.array(archive, params, "w_scale", where, "float32", (o,), f"{o} output channels")
        bad = np.flatnonzero(~(np.isfinite(w_scale) & (w_scale > 0)))
        if bad.size:
            raise self.fail(f"{where}.params.w_scale", f"channel {bad[0]} is {w_scale[bad[0]]}; every channel's "
                                                       f"scale must be positive and finite")
        limit = bias_limit(int(np.prod(w_shape[1:])))
        if np.abs(bias.astype(np.int64)).max() > limit:
            raise self.fail(f"{where}.params.bias", f"holds {int(np.abs(bias.astype(np.int64)).max())}, beyond "
                                                    f"+-{limit}, where the int32 accumulator could overflow")
        try:
            requant = weight_layer_requant(x_q, w_scale, layer.out_q)
        except TinyTrainError as err:
            raise self.fail(f"{where}.out_q", f"and the input and weight scales give a requantize scale the int8 "
                                              f"arithmetic cannot represent ({err})") from None
        layer.params = {"weight": weight, "bias": bias, "w_scale": w_scale, **requant}

    def same_q(self, layer, where, x_q):
        if layer.out_q != x_q:
            raise self.fail(f"{where}.out_q", f"is (scale {layer.out_q.scale:.6g}, zero {layer.out_q.zero}), but a "
                                              f"{layer.op} keeps its input's (scale {x_q.scale:.6g}, zero {x_q.zero})")


def _conv2d(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    (x_shape,) = x_shapes
    r.rank(where, x_shape, 3, "conv2d")
    c, h, w = x_shape
    geometry = {"stride": _pair(r, attrs, "stride", f"{where}.attrs")}
    if "dilation" in attrs:
        geometry["dilation"] = _pair(r, attrs, "dilation", f"{where}.attrs")
    pt, pl, pb, pr = r.ints(attrs, "padding", f"{where}.attrs", 0, MAX_SIZE, 4)
    groups = r.integer(attrs, "groups", f"{where}.attrs", 1, c)
    o = layer.out_shape[0]
    if c % groups or o % groups:
        raise r.fail(f"{where}.attrs.groups", f"is {groups}, expected a divisor of the input's {c} channels and "
                                              f"the output's {o}")
    declared = r.field(r.field(params, "weight", f"{where}.params", dict, "an array placeholder"), "shape",
                       f"{where}.params.weight", list, "[out, in / groups, kh, kw]")
    if len(declared) != 4 or not all(type(v) is int and 1 <= v <= MAX_SIZE for v in declared[2:]):
        raise r.fail(f"{where}.params.weight.shape", f"is {_found(declared)}, expected [out, in / groups, kh, kw]")
    kh, kw = declared[2:]
    (dh, dw), stride = conv_geometry.dilations(geometry), geometry["stride"]
    span_h, span_w = conv_geometry.extent(kh, dh), conv_geometry.extent(kw, dw)
    dilated = f" dilation-{(dh, dw)}" if "dilation" in geometry else ""
    if h + pt + pb < span_h or w + pl + pr < span_w:
        spanning = f" spanning {span_h}x{span_w} ({dilated.strip()})" if dilated else ""
        raise r.fail(f"{where}.params.weight", f"has a {kh}x{kw} kernel{spanning}, larger than its padded {h}x{w} input")
    r.expect_shape(layer, where, (o, *conv_geometry.out_hw({**geometry, "padding": (pt, pl, pb, pr)}, (kh, kw), (h, w))),
                   f"a {kh}x{kw} stride-{stride}{dilated} conv of its {c}x{h}x{w} input with padding {[pt, pl, pb, pr]}")
    layer.attrs.update(geometry, padding=(pt, pl, pb, pr), groups=groups)
    r.act(layer, where, attrs)
    r.weights(archive, layer, where, params, x_q, (o, c // groups, kh, kw),
              f"{o} output channels, {c} input channels / groups {groups}, kernel {kh}x{kw}")


def _linear(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    (x_shape,) = x_shapes
    r.rank(where, x_shape, 1, "linear (flatten before it)")
    if len(layer.out_shape) != 1:
        raise r.fail(f"{where}.out_shape", f"is {list(layer.out_shape)}, expected [outputs] (a linear layer is 1-D)")
    r.act(layer, where, attrs)
    o = layer.out_shape[0]
    r.weights(archive, layer, where, params, x_q, (o, x_shape[0]), f"{o} outputs, {x_shape[0]} inputs")


def _add(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    a, b = x_shapes
    if a != b:
        raise r.fail(f"{where}.inputs", f"adds tensors of shapes {list(a)} and {list(b)}; an add needs equal shapes")
    r.expect_shape(layer, where, a, "the add of its inputs")
    r.act(layer, where, attrs)
    try:
        requant = add_requant(x_q, r.qs[layer.inputs[1]], layer.out_q)
    except TinyTrainError as err:
        raise r.fail(f"{where}.out_q", f"and its inputs' scales give a requantize scale the int8 arithmetic cannot "
                                       f"represent ({err})") from None
    layer.attrs.update(requant)


def _mul(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    x, gate = (tuple(s) for s in x_shapes)
    if len(x) != 3 or gate not in (x, (x[0], 1, 1)):
        raise r.fail(f"{where}.inputs", f"multiplies tensors of shapes {list(x)} and {list(gate)}; a mul needs the "
                                        f"second (the gate) shaped [C, 1, 1] or equal to the first")
    r.expect_shape(layer, where, x, "the product of its inputs")
    r.act(layer, where, attrs)
    try:
        requant = mul_requant(x_q, r.qs[layer.inputs[1]], layer.out_q)
    except TinyTrainError as err:
        raise r.fail(f"{where}.out_q", f"and its inputs' scales give a requantize scale the int8 arithmetic cannot "
                                       f"represent ({err})") from None
    layer.attrs.update(requant)


def _concat(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    """(C_i, H, W) maps of one H x W, joined along channels; the requantize constants follow from the scales."""
    for src, shape in zip(layer.inputs, x_shapes):
        if len(shape) != 3 or shape[1:] != x_shapes[0][1:]:
            raise r.fail(f"{where}.inputs", f"joins {src!r} of shape {list(shape)} to maps of shapes "
                                            f"{[list(s) for s in x_shapes]}; a concat needs (C, H, W) maps of one "
                                            f"H x W")
    r.expect_shape(layer, where, (sum(s[0] for s in x_shapes), *x_shapes[0][1:]), "the join of its inputs' channels")
    try:
        layer.attrs.update(concat.requant([r.qs[s] for s in layer.inputs], layer.out_q))
    except TinyTrainError as err:
        raise r.fail(f"{where}.out_q", f"and its inputs' scales give a requantize scale the int8 arithmetic cannot "
                                       f"represent ({err})") from None


def _pair(r: _Reader, attrs, key, where):
    """An int (the same along H and W) or a list of two ints, each in 1..MAX_SIZE, kept in the form
    it was written in (the quantization hash covers the attrs as written)."""
    if isinstance(attrs.get(key), int) and not isinstance(attrs.get(key), bool):
        return r.integer(attrs, key, where, 1, MAX_SIZE)
    return r.ints(attrs, key, where, 1, MAX_SIZE, 2)


def _window(r: _Reader, layer, where, attrs, x_shape, what: str):
    """The pool window (kernel, stride, padding), checked against the input and the stored out_shape."""
    c, h, w = x_shape
    window = {"kernel": _pair(r, attrs, "kernel", f"{where}.attrs"), "stride": _pair(r, attrs, "stride", f"{where}.attrs"),
              "padding": r.ints(attrs, "padding", f"{where}.attrs", 0, MAX_SIZE, 4)}
    reason = pooling.problem(window, (h, w))
    if reason:
        raise r.fail(f"{where}.attrs", f"describe a window that does not fit its {h}x{w} input ({reason})")
    (kh, kw), (sh, sw), _ = pooling.window(window)
    r.expect_shape(layer, where, (c, *pooling.out_hw(window, (h, w))),
                   f"a {kh}x{kw} stride-{(sh, sw)} {what} of its {c}x{h}x{w} input")
    layer.attrs.update(window)


def _avgpool(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    (x_shape,) = x_shapes
    r.rank(where, x_shape, 3, "avgpool")
    if attrs:  # windowed: all four attrs
        _window(r, layer, where, attrs, x_shape, "average pool")
        if not isinstance(attrs.get("count_include_pad"), bool):
            raise r.fail(f"{where}.attrs.count_include_pad", f"is {_found(attrs.get('count_include_pad'))}, expected "
                                                             f"true or false")
        layer.attrs["count_include_pad"] = attrs["count_include_pad"]
    else:
        r.expect_shape(layer, where, (x_shape[0], 1, 1), "global average pooling")
    r.same_q(layer, where, x_q)


def _maxpool(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    (x_shape,) = x_shapes
    r.rank(where, x_shape, 3, "maxpool")
    _window(r, layer, where, attrs, x_shape, "max pool")
    r.same_q(layer, where, x_q)


def _flatten(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    r.expect_shape(layer, where, (int(np.prod(x_shapes[0])),), "flattening its input")
    r.same_q(layer, where, x_q)


def _lut(r: _Reader, archive, layer, where, attrs, params, x_shapes, x_q):
    """A known function and slope; its table is rebuilt from them and the stored scales."""
    fn = r.field(attrs, "fn", f"{where}.attrs", str, f"one of {', '.join(lut.FUNCTIONS)}")
    alpha = r.field(attrs, "alpha", f"{where}.attrs", (int, float), "a number (LeakyReLU's slope, else 0)")
    try:
        lut.check(fn, alpha, "")
    except TinyTrainError as err:
        raise r.fail(f"{where}.attrs", str(err).lstrip(": ")) from None
    r.expect_shape(layer, where, x_shapes[0], "an elementwise function of its input")
    layer.attrs.update(fn=fn, alpha=float(alpha))
    layer.params["table"] = lut.table(fn, float(alpha), x_q, layer.out_q)


_CHECK = {"conv2d": _conv2d, "linear": _linear, "add": _add, "avgpool": _avgpool, "maxpool": _maxpool,
          "flatten": _flatten, "lut": _lut, "concat": _concat}
_CHECK["mul"] = _mul
