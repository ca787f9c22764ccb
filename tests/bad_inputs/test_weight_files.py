"""Bad weight files: a converted backbone (json + npz) broken one way at a time, a named paper backbone
whose structure differs from the paper's, and hostile or broken .pkl files for convert-weights.

Each case copies the smallest real backbone (mbv2-w0.35) into its folder and breaks one thing; the
command must name the file and the layer / field, and leave every file as it was.
"""
import json
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from bad_input_harness import Case, run_bad
from tvm_tinytrain.paths import weights_dir

MODEL = "mbv2-w0.35"
SOURCE = weights_dir()  # resolved once, before any case points TINYTRAIN_DATA elsewhere
DATA = "data/weights/tiny-training-int8"


def _copy(folder, stem="mymodel", sub=""):
    """The real backbone as `folder/sub/<stem>.json + .npz`; returns the json path."""
    target = folder / sub
    target.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".npz"):
        shutil.copy(SOURCE / f"{MODEL}{suffix}", target / f"{stem}{suffix}")
    return target / f"{stem}.json"


def _edit_json(path, change):
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def _edit_npz(path, change):
    with np.load(path) as npz:
        arrays = dict(npz)
    change(arrays)
    np.savez(path, **arrays)


def _node(spec, dotted):
    """spec["blocks"][2]["residual"] for "blocks.2.residual"."""
    for key in filter(None, dotted.split(".")):
        spec = spec[int(key)] if isinstance(spec, list) else spec[key]
    return spec


def _set(dotted, value):
    parent, _, key = dotted.rpartition(".")
    return lambda spec: _node(spec, parent).__setitem__(key, value)


def _delete(dotted):
    parent, _, key = dotted.rpartition(".")
    return lambda spec: _node(spec, parent).__delitem__(int(key) if key.isdigit() else key)


def json_case(id, change, expect, stem="mymodel", command="inspect"):
    """`inspect` (or `plan`) of a user's backbone .json given by path, its json changed by `change(spec)`."""
    def setup(folder):
        _edit_json(_copy(folder, stem), change)
    argv = ["inspect", f"{stem}.json"] if command == "inspect" else ["plan", f"{stem}.json", "--scheme", "bias-only"]
    return Case(id, argv, (f"{stem}.json", *expect), setup=setup)


def npz_case(id, change, expect, json_change=None):
    def setup(folder):
        path = _copy(folder)
        _edit_npz(path.with_suffix(".npz"), change)
        if json_change:
            _edit_json(path, json_change)
    return Case(id, ["inspect", "mymodel.json"], ("mymodel", *expect), setup=setup)


def named_case(id, change, expect, argv=("inspect", MODEL)):
    """A paper backbone loaded by name from TINYTRAIN_DATA, a tampered copy."""
    def setup(folder):
        _edit_json(_copy(folder, MODEL, DATA), change)
    return Case(id, list(argv), expect, setup=setup, env={"TINYTRAIN_DATA": lambda f: str(f / "data")})


def _output_q(block):
    last = block["residual"] or block["pointwise2"] or block["depthwise"]
    return last["params"]["y_scale"], last["params"]["y_zero"]


def _feed(spec, i):
    """Make block i read the quantization block i-1 writes (after removing or duplicating a block)."""
    scale, zero = _output_q(spec["blocks"][i - 1])
    block = spec["blocks"][i]
    first = block["pointwise1"] or block["depthwise"]
    for layer in (first, block["residual"]):
        if layer:
            layer["params"].update(x_scale=scale, x_zero=zero)


def _remove_block(i):
    def change(spec):
        del spec["blocks"][i]
        _feed(spec, i)
    return change


def _duplicate_block(i):
    def change(spec):
        spec["blocks"].insert(i + 1, json.loads(json.dumps(spec["blocks"][i])))
        _feed(spec, i + 1)
    return change


LAYER = "blocks.2.depthwise"  # 48 channels, 32x32, stride 1, in a residual block
P = f"{LAYER}.params"
CASES = []

# every field a layer needs, missing
for field in ("first_conv.in_channel", "first_conv.in_shape", "first_conv.params.x_scale", "first_conv.params",
              f"{LAYER}.stride", f"{LAYER}.groups", f"{LAYER}.kernel_size", f"{LAYER}.in_channel",
              f"{LAYER}.out_channel", f"{LAYER}.out_shape", f"{LAYER}.params.y_zero", f"{LAYER}.params.weight",
              f"{LAYER}.params.bias", f"{LAYER}.params.w_scales", "blocks.2.residual.params",
              "blocks.2.residual.params.x_scale", "blocks.2.residual.params.y_zero", "classifier.in_channel",
              "classifier.params.x_zero", "classifier", "blocks"):
    CASES.append(json_case(f"missing-{field}", _delete(field), (field, "missing")))

# wrong types and out-of-range values
for field, values in ((f"{LAYER}.stride", ("2", 2.0, None, [2], True, 0, -1, 9)),
                      (f"{LAYER}.groups", ("48", None, 0, 5, 96)),
                      (f"{LAYER}.params.x_zero", (128, -129, 0.5, "0", None)),
                      (f"{LAYER}.params.y_zero", (1000,)),
                      ("blocks.2.residual.params.y_zero", (-200,)),
                      ("first_conv.params.x_scale", (0, -0.5, float("nan"), float("inf"), "0.1", None)),
                      (f"{LAYER}.params.y_scale", (0.0, float("-inf"))),
                      ("blocks.2.residual.params.y_scale", (0, float("nan"))),
                      ("first_conv.in_shape", ("128", 0, 100000)),
                      (f"{LAYER}.kernel_size", ([4, 4], [3, 5], 3, [3.0, 3.0], None))):
    for value in values:
        CASES.append(json_case(f"{field}={json.dumps(value)}", _set(field, value), (field, "expected")))

# fields that contradict the layer before, or each other
CASES += [
    json_case("in_channel-not-previous-out", _set(f"{LAYER}.in_channel", 24), (f"{LAYER}.in_channel", "48 channels")),
    json_case("in_shape-not-previous", _set(f"{LAYER}.in_shape", 16), (f"{LAYER}.in_shape", "32x32")),
    json_case("out_shape-wrong", _set(f"{LAYER}.out_shape", 16), (f"{LAYER}.out_shape", "gives 32x32")),
    json_case("kernel-5-but-weight-3x3", _set(f"{LAYER}.kernel_size", [5, 5]), (f"{LAYER}.params.weight", "kernel 5")),
    json_case("depthwise-flag-with-groups-1", _set("blocks.2.pointwise1.depthwise", True),
              ("blocks.2.pointwise1.depthwise", "groups = in_channel")),
    json_case("act-relu", _set(f"{LAYER}.act", "relu"), (f"{LAYER}.act", "act=null")),
    json_case("squeeze-excite", _set("blocks.2.se", {"params": {}}), ("blocks.2.se", "not supported")),
    json_case("block-without-convs", lambda s: s["blocks"][2].update(pointwise1=None, depthwise=None, pointwise2=None),
              ("blocks.2", "at least one conv")),
    json_case("residual-on-a-strided-block", _set("blocks.3.residual", {"params": {}}),
              ("blocks.3.residual", "shapes differ")),
    json_case("x-quant-not-previous-y", _set(f"{LAYER}.params.x_zero", 5), (f"{LAYER}.params", "input quantization")),
    json_case("scales-beyond-fixed-point", _set(f"{P}.y_scale", 1e-30), (f"{P}", "cannot represent")),
    json_case("declared-bias-shape", _set(f"{P}.bias.shape", [47]), (f"{P}.bias", "out_channel 48")),
    json_case("declared-weight-dtype", _set(f"{P}.weight.dtype", "float32"), (f"{P}.weight", "int8")),
    json_case("placeholder-not-object", _set(f"{P}.weight", [1, 2]), (f"{P}.weight", "a list")),
    json_case("placeholder-key-not-string", _set(f"{P}.bias.__array__", 7), (f"{P}.bias", "__array__")),
    json_case("layer-is-a-list", _set(LAYER, [1]), (LAYER, "expected an object")),
    json_case("blocks-not-a-list", _set("blocks", {"0": None}), ("blocks", "list")),
    json_case("classifier-stride-2", _set("classifier.stride", 2), ("classifier.stride", "expected")),
    json_case("plan-bias-shorter", _set(f"{LAYER}.params.bias.shape", [40]), (f"{LAYER}.params.bias",), command="plan"),
    json_case("plan-missing-residual-x_zero", _delete("blocks.2.residual.params.x_zero"),
              ("blocks.2.residual.params.x_zero", "missing"), command="plan"),
    Case("json-top-level-list", ["inspect", "m.json"], ("m.json", "JSON object"),
         setup=lambda f: (_copy(f, "m"), (f / "m.json").write_text("[1, 2]"))),
    Case("json-truncated", ["inspect", "m.json"], ("m.json", "not a readable JSON"),
         setup=lambda f: (_copy(f, "m"), (f / "m.json").write_text((SOURCE / f"{MODEL}.json").read_text()[:999]))),
    Case("json-nested-200k-deep", ["inspect", "m.json"], ("m.json", "nested too deeply"),
         setup=lambda f: (_copy(f, "m"), (f / "m.json").write_text("[" * 200_000 + "]" * 200_000))),
    Case("json-is-a-folder", ["inspect", "m.json"], ("m.json", "folder"), setup=lambda f: (f / "m.json").mkdir()),
]

# the arrays: lengths, dtypes, values, the npz itself
CASES += [
    npz_case("bias-one-short", lambda a: a.update({f"{P}.bias": a[f"{P}.bias"][:-1]}), (f"{P}.bias", "int32[48]")),
    npz_case("w_scales-one-long", lambda a: a.update({f"{P}.w_scales": np.ones(49, np.float32)}),
             (f"{P}.w_scales", "float32[48]")),
    npz_case("bias-and-w_scales-short-json-agrees", lambda a: a.update({f"{P}.bias": a[f"{P}.bias"][:-1]}),
             (f"{P}.bias", "declared int32[47]", "out_channel 48"), json_change=_set(f"{P}.bias.shape", [47])),
    npz_case("weight-float32", lambda a: a.update({f"{P}.weight": a[f"{P}.weight"].astype(np.float32)}),
             (f"{P}.weight", "float32", "expected int8")),
    npz_case("bias-big-endian", lambda a: a.update({f"{P}.bias": a[f"{P}.bias"].astype(">i4")}),
             (f"{P}.bias", ">i4")),
    npz_case("weight-in-channels-wrong", lambda a: a.update({f"{P}.weight": np.zeros((48, 2, 3, 3), np.int8)}),
             (f"{P}.weight", "int8[48, 1, 3, 3]")),
    npz_case("array-missing", lambda a: a.pop(f"{P}.bias"), (f"{P}.bias", "missing")),
]
for value in ("nan", "0", "-1", "inf"):
    CASES.append(npz_case(f"w_scale={value}", lambda a, v=float(value): a[f"{P}.w_scales"].__setitem__(5, v),
                          (f"{P}.w_scales", "channel 5")))
CASES += [
    Case("npz-missing", ["inspect", "m.json"], ("m.npz", "missing"),
         setup=lambda f: _copy(f, "m").with_suffix(".npz").unlink()),
    Case("npz-not-a-zip", ["inspect", "m.json"], ("m.npz", "not a readable npz"),
         setup=lambda f: _copy(f, "m").with_suffix(".npz").write_bytes(b"PK\x03\x04 not a zip")),
    Case("npz-truncated", ["inspect", "m.json"], ("m.npz",),
         setup=lambda f: (lambda p: p.write_bytes(p.read_bytes()[:200_000]))(_copy(f, "m").with_suffix(".npz"))),
]

# a named paper backbone whose structure is not the paper's
CASES += [
    named_case("named-block-removed", _remove_block(5), ("not the paper's mbv2-w0.35", "48 conv layers", "by path")),
    named_case("named-block-duplicated", _duplicate_block(8), ("not the paper's mbv2-w0.35", "54 conv layers")),
    named_case("named-classifier-999", lambda s: s["classifier"].update(out_channel=999),
               ("classifier.params.weight", "int8[999, 112, 1, 1]")),
    named_case("named-plan-paper-preset-block-removed", _remove_block(5), ("not the paper's", "wrong layers"),
               argv=("plan", MODEL, "--scheme", "paper-49kb")),
    named_case("named-missing-field", _delete("blocks.4.residual.params.y_scale"),
               ("tiny-training-int8", "blocks.4.residual.params.y_scale", "missing")),
    Case("path-copy-with-paper-name-block-removed-gets-no-paper-preset",
         ["plan", f"{MODEL}.json", "--scheme", "paper-49kb"], ("paper-49kb", f"{MODEL}-custom"),
         setup=lambda f: _edit_json(_copy(f, MODEL), _remove_block(5))),
]


class _Reduce:
    def __init__(self, *value):
        self.value = value

    def __reduce__(self):
        return self.value


def pkl_case(id, data, expect):
    """convert-weights of a hostile or broken .pkl (bytes, or an object pickled with protocol 4)."""
    def setup(folder):
        (folder / "w.pkl").write_bytes(data if isinstance(data, bytes) else pickle.dumps(data, protocol=4))
    return Case(id, ["convert-weights", "w.pkl", "--out", "out"], ("w.pkl", *expect), setup=setup)


def _zip(folder, name, payload, declare=None):
    with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as member:
            for chunk in payload:
                member.write(chunk)


_reconstruct = np._core.multiarray._reconstruct
_state = (1, (2**40,), np.dtype("f8"), False, b"\0" * 8)
CASES += [
    pkl_case("pkl-ndarray-call", {"w": _Reduce(np.ndarray, ((2**25,), "f8"))}, ("numpy.ndarray",)),
    pkl_case("pkl-reconstruct-uninitialised", {"w": _Reduce(_reconstruct, (np.ndarray, (20000,), b"b"))},
             ("_reconstruct",)),
    pkl_case("pkl-huge-declared-shape", {"w": _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), _state)},
             ("arrays are limited",)),
    pkl_case("pkl-calls-print", {"w": _Reduce(print, ("pwned",))}, ("builtins.print", "run code")),
    pkl_case("pkl-key-dotdot", {"../x": np.zeros(2, np.int8)}, ("'../x'", "npz member")),
    pkl_case("pkl-key-slash", {"a": {"b/c": np.zeros(2, np.int8)}}, ("'a.b/c'", "npz member")),
    pkl_case("pkl-key-nul", {"\x00": np.zeros(2, np.int8)}, ("npz member",)),
    pkl_case("pkl-nested-200k", b"\x80\x02}X\x01\x00\x00\x00a" + b"]" * 200_000 + b"a" * 199_999 + b"s.",
             ("nested more than",)),
    pkl_case("pkl-object-array", {"w": np.array([1, "x"], dtype=object)}, ("'w'", "dtype object")),
    pkl_case("pkl-string-array", {"w": np.array(["ab"])}, ("'w'", "dtype")),
    pkl_case("pkl-length-past-end", b"\x80\x04\x8e" + (2**35).to_bytes(8, "little") + b"abc.", ("truncated",)),
    pkl_case("pkl-empty", b"", ("not a valid pickle",)),
    pkl_case("pkl-text", b"first_conv: 3\n", ("not a valid pickle",)),
    pkl_case("pkl-top-level-list", [np.zeros(2)], ("list at the top level",)),
    Case("pkl-zip-bomb", ["convert-weights", "w.pkl", "--out", "out"], ("w.pkl:archive/data.pkl", "zip bomb"),
         setup=lambda f: _zip(f, "w.pkl", [pickle.dumps({"w": 1}, protocol=2)] + [bytes(1 << 20)] * 200)),
    Case("pkl-zip-without-data-pkl", ["convert-weights", "w.pkl", "--out", "out"], ("w.pkl", "torch.save archive"),
         setup=lambda f: zipfile.ZipFile(f / "w.pkl", "w").writestr("x.txt", "hi")),
    Case("pkl-is-a-folder", ["convert-weights", "w.pkl", "--out", "out"], ("w.pkl", "folder"),
         setup=lambda f: (f / "w.pkl").mkdir()),
    Case("pkl-missing", ["convert-weights", "w.pkl", "--out", "out"], ("w.pkl", "does not exist")),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
