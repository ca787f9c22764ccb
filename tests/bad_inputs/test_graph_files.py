"""Bad int8 layer-graph files (FILE.json + FILE.npz of `tvm-tinytrain quantize`) through `inspect`
and `plan`, bad `quantize --calibration` values, and `train --init` across quantizations.

Each graph-file case copies one small valid file (a conv, max pool, conv, residual add, global
pool, flatten and linear layer, quantized once) and breaks one thing; the command must name the
file and the layer / field, and leave every file as it was.
"""
import functools
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from bad_input_harness import Case, run_bad
from tvm_tinytrain import graph_file
from tvm_tinytrain.graph import Graph, Layer
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.training.checkpoint import save_checkpoint

TORCH_MODEL = "tvm_tinytrain.models.tiny_resnet:build"


def _conv(name, src, o, i, rng):
    return Layer(name, "conv2d", (src,), (o, 8, 8), {"stride": 1, "padding": (1, 1, 1, 1), "groups": 1, "act": "relu"},
                 {"weight": rng.standard_normal((o, i, 3, 3)).astype(np.float32), "bias": np.zeros(o, np.float32)})


def _small_graph() -> Graph:
    rng = np.random.default_rng(0)
    c1 = _conv("c1", "input", 4, 3, rng)
    c1.out_shape = (4, 16, 16)
    layers = [c1, Layer("pool", "maxpool", ("c1",), (4, 8, 8), {"kernel": 2, "stride": 2, "padding": (0, 0, 0, 0)}),
              _conv("c2", "pool", 4, 4, rng), Layer("add", "add", ("c2", "pool"), (4, 8, 8), {"act": None}),
              Layer("gap", "avgpool", ("add",), (4, 1, 1)), Layer("flat", "flatten", ("gap",), (4,)),
              Layer("fc", "linear", ("flat",), (2,), {"act": None},
                    {"weight": rng.standard_normal((2, 4)).astype(np.float32), "bias": np.zeros(2, np.float32)})]
    inputs = [rng.uniform(-1, 1, (3, 16, 16)).astype(np.float32) for _ in range(4)]
    return quantize(Graph("small", (3, 16, 16), layers), inputs, progress=False)


@functools.cache
def _small_int8() -> Graph:
    return _small_graph()


def _copy(folder):
    """The valid file, written into the case's folder: net.json + net.npz."""
    graph_file.save(_small_int8(), folder / "net")


def _json(change):
    def setup(folder):
        _copy(folder)
        spec = json.loads((folder / "net.json").read_text())
        change(spec)
        (folder / "net.json").write_text(json.dumps(spec))
    return setup


def _raw_json(old, new):
    def setup(folder):
        _copy(folder)
        text = (folder / "net.json").read_text()
        assert old in text
        (folder / "net.json").write_text(text.replace(old, new, 1))
    return setup


def _npz(change):
    def setup(folder):
        _copy(folder)
        with np.load(folder / "net.npz") as npz:
            arrays = dict(npz)
        change(arrays)
        np.savez(folder / "net.npz", **arrays)
    return setup


def _layer(i, key, value):
    return _json(lambda spec: spec["layers"][i].__setitem__(key, value))


def _attr(i, key, value):
    return _json(lambda spec: spec["layers"][i]["attrs"].__setitem__(key, value))


def _with_lut(**changes):
    """The valid file with a lut layer (LeakyReLU) between the add and the pooling, then `changes`
    to that layer's fields (attrs merged)."""
    def change(spec):
        row = {"name": "act", "op": "lut", "inputs": ["add"], "out_shape": [4, 8, 8],
               "attrs": {"fn": "leaky_relu", "alpha": 0.1}, "out_q": dict(spec["layers"][3]["out_q"]), "params": {}}
        row["attrs"].update(changes.pop("attrs", {}))
        row.update(changes)
        spec["layers"].insert(4, row)
        spec["layers"][5]["inputs"] = ["act"]
    return _json(change)


def _with_concat(**changes):
    """The valid file with a concat layer joining the add and the max pool ((4, 8, 8) each) after the
    add (nothing reads it), then `changes` to that layer's fields (attrs merged)."""
    def change(spec):
        row = {"name": "join", "op": "concat", "inputs": ["add", "pool"], "out_shape": [8, 8, 8],
               "attrs": {}, "out_q": dict(spec["layers"][3]["out_q"]), "params": {}}
        row["attrs"].update(changes.pop("attrs", {}))
        row.update(changes)
        spec["layers"].insert(4, row)
    return _json(change)


def _with_mul(**changes):
    """The valid file with a mul layer (squeeze-and-excitation's x * gate: the add's (4, 8, 8) map times
    the global pool's (4, 1, 1)) after the pool (nothing reads it), then `changes` to that layer's fields
    (attrs merged)."""
    def change(spec):
        row = {"name": "se", "op": "mul", "inputs": ["add", "gap"], "out_shape": [4, 8, 8],
               "attrs": {"act_min": -128, "act_max": 127}, "out_q": dict(spec["layers"][3]["out_q"]), "params": {}}
        row["attrs"].update(changes.pop("attrs", {}))
        row.update(changes)
        spec["layers"].insert(5, row)
    return _json(change)


def _case(id, setup, *expect, command="inspect"):
    argv = ["inspect", "net.json"] if command == "inspect" else ["plan", "net.json", "--scheme", "bias-only"]
    return Case(id, argv, ("net.json", *expect), setup=setup)


def _npz_case(id, setup, *expect):
    return Case(id, ["inspect", "net.json"], ("net.npz", *expect), setup=setup)


def _object_array(arrays):
    arrays["layer0.weight"] = np.array([{"x": 1}] * 4, dtype=object)


def _truncate(folder):
    _copy(folder)
    data = (folder / "net.npz").read_bytes()
    (folder / "net.npz").write_bytes(data[: len(data) // 2])


def _corrupt_member(folder):
    _copy(folder)
    with zipfile.ZipFile(folder / "net.npz", "w") as z:
        z.writestr("layer0.weight.npy", b"\x93NUMPY garbage")


FILE_CASES = [
    _case("missing-layers", _json(lambda s: s.pop("layers")), "layers is missing"),
    _case("missing-input-q", _json(lambda s: s.pop("input_q")), "input_q is missing"),
    _case("missing-op", _json(lambda s: s["layers"][1].pop("op")), "layer 1 ('pool').op is missing"),
    _case("missing-out-q", _json(lambda s: s["layers"][3].pop("out_q")), "layer 3 ('add').out_q is missing"),
    _case("missing-hash", _json(lambda s: s.pop("quantization_hash")), "quantization_hash is missing"),
    _case("top-level-list", lambda f: (_copy(f), (f / "net.json").write_text("[1, 2]")), "JSON object"),
    _case("input-shape-text", _json(lambda s: s.__setitem__("input_shape", "3x16x16")), "input_shape",
          "expected a list of 3 integers"),
    _case("out-shape-text", _layer(2, "out_shape", [4, "8", 8]), "layer 2 ('c2').out_shape"),
    _case("tensor-too-large", _json(lambda s: s.__setitem__("input_shape", [3, 60000, 60000])), "input_shape",
          "elements"),
    _case("layers-empty", _json(lambda s: s.__setitem__("layers", [])), "layers has 0 layers"),
    _case("unknown-op", _layer(2, "op", "conv3d"), "layer 2 ('c2').op", "conv3d", "expected one of"),
    _case("nan-scale", _raw_json('"scale": 0.', '"scale": NaN, "was": 0.'), "NaN"),
    _case("zero-scale", _json(lambda s: s["layers"][0]["out_q"].__setitem__("scale", 0)),
          "layer 0 ('c1').out_q.scale", "positive finite"),
    _case("input-scale-negative", _json(lambda s: s["input_q"].__setitem__("scale", -0.5)), "input_q.scale"),
    _case("zero-point-300", _json(lambda s: s["layers"][2]["out_q"].__setitem__("zero", 300)),
          "layer 2 ('c2').out_q.zero", "-128..127"),
    _case("zero-point-float", _json(lambda s: s["input_q"].__setitem__("zero", 1.5)), "input_q.zero"),
    _case("undefined-input", _layer(2, "inputs", ["nowhere"]), "layer 2 ('c2').inputs", "'nowhere'"),
    _case("input-read-before-computed", _layer(1, "inputs", ["c2"]), "layer 1 ('pool').inputs", "'c2'"),
    _case("duplicate-name", _layer(2, "name", "c1"), "layer 2 ('c1').name", "unique"),
    _case("add-one-input", _layer(3, "inputs", ["c2"]), "layer 3 ('add').inputs", "2 layer name"),
    _case("add-shapes-differ", _layer(3, "inputs", ["c2", "c1"]), "layer 3 ('add').inputs", "equal shapes"),
    _case("linear-on-3d", _layer(6, "inputs", ["c2"]), "layer 6 ('fc').inputs", "flatten before it"),
    _case("output-unknown", _json(lambda s: s.__setitem__("output", "logits")), "output", "'logits'"),
    _case("unknown-attr", _attr(0, "padding_mode", "zeros"), "layer 0 ('c1').attrs", "'padding_mode'"),
    _case("stored-multiplier", _attr(3, "multiplier_a", 5), "layer 3 ('add').attrs", "'multiplier_a'"),
    _case("stored-param-shift", _json(lambda s: s["layers"][0]["params"].__setitem__(
        "shift", {"__array__": "layer0.bias", "dtype": "int32", "shape": [4]})), "layer 0 ('c1').params", "'shift'"),
    _case("groups-not-divisor", _attr(2, "groups", 3), "layer 2 ('c2').attrs.groups", "divisor"),
    _case("stride-zero", _attr(0, "stride", 0), "layer 0 ('c1').attrs.stride"),
    _case("stride-three-ints", _attr(0, "stride", [1, 2, 1]), "layer 0 ('c1').attrs.stride", "a list of 2 integers"),
    _case("dilation-zero", _attr(0, "dilation", [1, 0]), "layer 0 ('c1').attrs.dilation"),
    _case("dilation-out-shape", _attr(0, "dilation", 2), "layer 0 ('c1').out_shape", "[4, 14, 14]", "dilation-(2, 2)"),
    _case("dilation-span-too-large", _attr(0, "dilation", [9, 1]), "layer 0 ('c1').params.weight", "spanning 19x3"),
    _case("padding-three", _attr(0, "padding", [1, 1, 1]), "layer 0 ('c1').attrs.padding"),
    _case("act-min-above-max", _json(lambda s: s["layers"][0]["attrs"].update(act_min=10, act_max=5)),
          "layer 0 ('c1').attrs.act_max"),
    _case("conv-out-shape", _layer(0, "out_shape", [4, 15, 16]), "layer 0 ('c1').out_shape", "[4, 16, 16]"),
    _case("maxpool-kernel-three-ints", _attr(1, "kernel", [2, 2, 2]), "layer 1 ('pool').attrs.kernel",
          "a list of 2 integers"),
    _case("maxpool-padding-not-smaller", _attr(1, "padding", [2, 0, 0, 0]), "layer 1 ('pool').attrs",
          "must be smaller than the kernel"),
    _case("maxpool-window-out-shape", _attr(1, "kernel", [2, 4]), "layer 1 ('pool')", "2x4"),
    _case("avgpool-window-no-count-include-pad",
          _layer(4, "attrs", {"kernel": [8, 8], "stride": [8, 8], "padding": [0, 0, 0, 0]}),
          "layer 4 ('gap').attrs.count_include_pad", "true or false"),
    _case("avgpool-window-count-include-pad-int",
          _layer(4, "attrs", {"kernel": [8, 8], "stride": [8, 8], "padding": [0, 0, 0, 0], "count_include_pad": 1}),
          "layer 4 ('gap').attrs.count_include_pad", "is 1"),
    _case("avgpool-window-too-large",
          _layer(4, "attrs", {"kernel": [9, 8], "stride": [1, 1], "padding": [0, 0, 0, 0], "count_include_pad": True}),
          "layer 4 ('gap').attrs", "larger than the padded"),
    _case("maxpool-own-scale", _json(lambda s: s["layers"][1]["out_q"].__setitem__("scale", 1.0)),
          "layer 1 ('pool').out_q", "keeps its input's"),
    _case("declared-shape-mismatch", _json(lambda s: s["layers"][6]["params"]["weight"].__setitem__("shape", [2, 5])),
          "layer 6 ('fc').params.weight", "expected int8[2, 4]"),
    _case("version-unknown", _json(lambda s: s.__setitem__("version", 2)), "version", "version 1 only"),
    _case("format-other", _json(lambda s: s.__setitem__("format", "keras")), "format", "'keras'"),
    _case("plan-unknown-op", _layer(4, "op", "softmax"), "layer 4 ('gap').op", command="plan"),
    _case("plan-zero-point", _json(lambda s: s["layers"][6]["out_q"].__setitem__("zero", -129)),
          "layer 6 ('fc').out_q.zero", command="plan"),
    _npz_case("npz-missing", lambda f: (_copy(f), (f / "net.npz").unlink()), "is missing", "keep the .npz"),
    _npz_case("npz-truncated", _truncate, "not a readable npz"),
    _npz_case("npz-corrupt-member", _corrupt_member, "layer0.weight", "corrupt"),
    _npz_case("npz-object-array", _npz(_object_array), "layer0.weight", "object"),
    _npz_case("npz-member-missing", _npz(lambda a: a.pop("layer2.bias")), "'layer2.bias'", "is missing"),
    _npz_case("npz-weight-shape", _npz(lambda a: a.__setitem__("layer6.weight", np.zeros((2, 5), np.int8))),
              "layer6.weight", "expected int8[2, 4]"),
    _npz_case("npz-weight-dtype", _npz(lambda a: a.__setitem__("layer6.weight", np.zeros((2, 4), np.float32))),
              "layer6.weight", "float32"),
    _case("w-scale-zero", _npz(lambda a: a["layer2.w_scale"].__setitem__(1, 0.0)),
          "layer 2 ('c2').params.w_scale", "channel 1"),
    _case("bias-overflow", _npz(lambda a: a["layer6.bias"].__setitem__(0, 2**31 - 1)),
          "layer 6 ('fc').params.bias", "overflow"),
    _case("lut-unknown-function", _with_lut(attrs={"fn": "gelu"}), "layer 4 ('act').attrs", "'gelu' is not supported"),
    _case("lut-slope-huge", _with_lut(attrs={"alpha": 1e300}), "layer 4 ('act').attrs", "alpha is 1e+300"),
    _case("lut-slope-text", _with_lut(attrs={"alpha": "0.1"}), "layer 4 ('act').attrs.alpha", "expected a number"),
    _case("lut-no-function", _with_lut(attrs={"fn": None}), "layer 4 ('act').attrs.fn"),
    _case("lut-stored-table", _with_lut(params={"table": {"__array__": "layer0.bias", "dtype": "int32", "shape": [4]}}),
          "layer 4 ('act').params", "'table'"),
    _case("lut-shape-changes", _with_lut(out_shape=[4, 4, 4]), "layer 4 ('act').out_shape", "elementwise"),
    _case("concat-one-input", _with_concat(inputs=["add"]), "layer 4 ('join').inputs", "2 to 256 layer names"),
    _case("concat-input-not-a-name", _with_concat(inputs=["add", 3]), "layer 4 ('join').inputs", "2 to 256"),
    _case("concat-map-sizes-differ", _with_concat(inputs=["add", "c1"]), "layer 4 ('join').inputs", "one H x W"),
    _case("concat-flat-input", _with_concat(inputs=["add", "flat"]), "layer 4 ('join').inputs",
          "reads 'flat', which is not 'input' nor a layer before it"),
    _case("concat-channels-miscounted", _with_concat(out_shape=[4, 8, 8]), "layer 4 ('join').out_shape",
          "the join of its inputs' channels gives [8, 8, 8]"),
    _case("concat-stored-multipliers", _with_concat(attrs={"multipliers": [1, 2]}), "layer 4 ('join').attrs",
          "'multipliers', which a concat layer does not have"),
    _case("concat-degenerate-scale", _with_concat(out_q={"scale": 1e-300, "zero": 0}), "layer 4 ('join').out_q",
          "requantize scale"),
    _case("mul-one-input", _with_mul(inputs=["add"]), "layer 5 ('se').inputs", "expected 2 layer name(s)"),
    _case("mul-gate-not-per-channel", _with_mul(inputs=["add", "c1"]), "layer 5 ('se').inputs",
          "shapes [4, 8, 8] and [4, 16, 16]", "[C, 1, 1]"),
    _case("mul-gate-first", _with_mul(inputs=["gap", "add"]), "layer 5 ('se').inputs", "the gate"),
    _case("mul-shape-changes", _with_mul(out_shape=[4, 4, 4]), "layer 5 ('se').out_shape", "product of its inputs"),
    _case("mul-stored-multiplier", _with_mul(attrs={"multiplier": 5}), "layer 5 ('se').attrs",
          "'multiplier', which a mul layer does not have"),
    _case("mul-clamp-inverted", _with_mul(attrs={"act_min": 10, "act_max": 5}), "layer 5 ('se').attrs.act_max"),
    _case("mul-no-clamp", _with_mul(attrs={"act_min": None}), "layer 5 ('se').attrs.act_min"),
    _case("mul-degenerate-scale", _with_mul(out_q={"scale": 1e-300, "zero": 0}), "layer 5 ('se').out_q",
          "requantize scale"),
    _case("npz-of-another-quantization", _npz(lambda a: a["layer2.weight"].__setitem__((0, 0, 0, 0), 77)),
          "quantization_hash", "another quantization"),
]


def _pets(folder):
    for c in ("cat", "dog"):
        (folder / "pets" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 10), (40 * i, 90, 200)).save(folder / "pets" / c / f"{i}.png")


def _quantize(calibration):
    return ["quantize", TORCH_MODEL, "--data", "pets", "--calibration", calibration, "--out", "q"]


def _checkpoint(quantization):
    """A graph-file copy and a checkpoint of its head trained under `quantization` (None: not recorded)."""
    def setup(folder):
        _copy(folder)
        _pets(folder)
        meta = {"model": "small", "scheme": "bias-only"} | ({"quantization": quantization} if quantization else {})
        save_checkpoint(folder / "ck.npz", {"fc.bias": np.zeros(2, np.int32)}, meta)
    return setup


def _existing_outputs(folder):
    _pets(folder)
    (folder / "q.json").write_text("{}")
    (folder / "q.npz").write_bytes(b"mine")


TRAIN = ["--scheme", "bias-only", "--data", "pets", "--epochs", "1", "--init", "ck.npz"]
COMMAND_CASES = [
    Case("calibration-zero", _quantize("0"), ("--calibration 0", "from 1"), setup=_pets),
    Case("calibration-negative", _quantize("-5"), ("--calibration -5",), setup=_pets),
    Case("calibration-not-a-number", _quantize("many"), ("--calibration", "invalid int"), setup=_pets),
    Case("calibration-more-than-the-data", _quantize("50"), ("--calibration 50", "has only"), setup=_pets),
    Case("quantize-over-existing-file", _quantize("4"), ("q.json exists", "--force"), setup=_existing_outputs),
    Case("quantize-int8-model", ["quantize", "mcunet-5fps", "--data", "pets", "--out", "q"], ("already",
                                                                                            "int8"), setup=_pets),
    Case("compile-calibration-zero", ["compile", TORCH_MODEL, "--scheme", "bias-only", "--data", "pets",
                                      "--calibration", "0", "--out", "proj"], ("--calibration 0",), setup=_pets),
    Case("init-another-quantization", ["train", "net.json", *TRAIN, "--out", "run"],
         ("trained on quantization " + "c" * 64, "quantize once with `tvm-tinytrain quantize`"),
         setup=_checkpoint("c" * 64)),
    Case("init-old-checkpoint-of-fp32-model", ["train", TORCH_MODEL, "--scheme", "bias-only", "--data", "cifar10",
                                               "--epochs", "1", "--train-per-class", "1", "--test-per-class", "1",
                                               "--init", "ck.npz", "--out", "run"],
         ("records no quantization", "fp32", "quantize once"),
         setup=lambda folder: save_checkpoint(folder / "ck.npz", {"classifier.bias": np.zeros(10, np.int32)},
                                              {"model": "tiny_resnet", "scheme": "bias-only"})),
]


@pytest.mark.parametrize("case", FILE_CASES + COMMAND_CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)


def test_the_source_file_is_good(tmp_path, capsys):
    from tvm_tinytrain.cli import main

    _copy(tmp_path)
    assert main(["plan", str(tmp_path / "net.json"), "--scheme", "bias-only"]) == 0
    assert "small" in capsys.readouterr().out
