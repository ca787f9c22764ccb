"""Bad `train --init` checkpoints: each refused with one WeightFileError line naming the file and
the problem, before any data is read or training program built (except where only the program
can tell: a checkpoint of another model).  Never a BadZipFile / EOFError / KeyError traceback,
and a leftover temp file of an interrupted save is never taken for a checkpoint."""
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from bad_input_harness import Case, run_bad
from tvm_tinytrain.training.checkpoint import FORMAT

PARAMS = {"classifier.bias": np.zeros(2, np.int32), "classifier.weight": np.ones((2, 160, 1, 1), np.int8)}


def train(init="ck.npz"):
    return ["train", "mcunet-5fps", "--scheme", "bias-only", "--data", "pets", "--epochs", "1", "--init", init]


def pets(folder):
    for c in ("cat", "dog"):
        (folder / "pets" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 10), (40 * i, 90, 200)).save(folder / "pets" / c / f"{i}.png")


def npz_bytes(meta=..., **arrays) -> bytes:
    """A checkpoint-like npz: `arrays` (PARAMS if none) and `meta` (a dict is dumped as the JSON
    string; any other value is stored as __meta__ as it is; left out if ...)."""
    blob = dict(arrays or PARAMS)
    if meta is not ...:
        blob["__meta__"] = np.array(json.dumps(meta)) if isinstance(meta, dict) else meta
    buf = io.BytesIO()
    np.savez(buf, **blob)
    return buf.getvalue()


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


GOOD = npz_bytes({"format": FORMAT, "model": "mcunet-5fps"})


def meta(value):
    return npz_bytes(value)


def flipped(data: bytes, marker: bytes) -> bytes:
    data = bytearray(data)
    data[data.index(marker)] ^= 0x5A
    return bytes(data)


def zip_with(name, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


def lying_size(data: bytes) -> bytes:
    """GOOD with its first member's uncompressed size in the zip directory set to ~4 GB."""
    data = bytearray(data)
    at = data.index(b"PK\x01\x02") + 24
    data[at:at + 4] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def files(named: dict):
    """pets/ plus files {relative path: bytes}."""
    def setup(folder):
        pets(folder)
        for name, data in named.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    return setup


def ck(data):
    return files({"ck.npz": data})


def other_folder(folder):
    pets(folder)
    (folder / "runs" / "old").mkdir(parents=True)


def fifo(folder):
    pets(folder)
    os.mkfifo(folder / "ck.npz")


CASES = [
    Case("missing", train(), ("checkpoint ck.npz not found",), setup=pets),
    Case("a-folder", train("runs/old"), ("runs/old is a folder", "checkpoint.npz"), setup=other_folder),
    Case("a-pipe", train(), ("ck.npz is not a regular file",), setup=fifo),
    Case("empty", train(), ("ck.npz is empty",), setup=ck(b"")),
    Case("not-a-zip", train(), ("ck.npz is not an npz",), setup=ck(b"checkpoint goes here\n")),
    Case("truncated", train(), ("ck.npz is not an npz", "truncated"), setup=ck(GOOD[:len(GOOD) // 2])),
    Case("corrupt-member", train(), ("ck.npz", "BadZipFile", "corrupt"),
         setup=ck(flipped(GOOD, b"\x01\x01\x01\x01\x01\x01\x01\x01"))),
    Case("bare-npy", train(), ("ck.npz is not an npz",), setup=ck(npy_bytes(np.arange(3, dtype=np.int8)))),
    Case("no-meta", train(), ("ck.npz is not a tvm-tinytrain checkpoint", "__meta__"), setup=ck(npz_bytes())),
    Case("meta-number", train(), ("ck.npz", "__meta__ is int64", "JSON string"), setup=ck(meta(np.array(7)))),
    Case("meta-list", train(), ("ck.npz", "__meta__ is <U", "(2,)"), setup=ck(meta(np.array(["a", "b"])))),
    Case("meta-bytes", train(), ("ck.npz", "__meta__ is |S"), setup=ck(meta(np.array(b"{}")))),
    Case("meta-invalid-json", train(), ("ck.npz", "__meta__ is not valid JSON"), setup=ck(meta(np.array("{model")))),
    Case("meta-json-list", train(), ("ck.npz", "__meta__ is a JSON list"), setup=ck(meta(np.array("[]")))),
    Case("meta-json-number", train(), ("ck.npz", "__meta__ is a JSON int"), setup=ck(meta(np.array("42")))),
    Case("meta-no-format", train(), ("ck.npz", "unknown checkpoint format None"), setup=ck(meta({"model": "m"}))),
    Case("meta-other-format", train(), ("ck.npz", "unknown checkpoint format 'tvm-tinytrain checkpoint 9'"),
         setup=ck(meta({"format": "tvm-tinytrain checkpoint 9"}))),
    Case("meta-model-number", train(), ("ck.npz", "'model' is 5, expected str"),
         setup=ck(meta({"format": FORMAT, "model": 5}))),
    Case("meta-classes-not-strings", train(), ("ck.npz", "'classes'", "list of strings"),
         setup=ck(meta({"format": FORMAT, "classes": [0, 1]}))),
    Case("meta-epochs-float", train(), ("ck.npz", "'epochs' is 1.5, expected int"),
         setup=ck(meta({"format": FORMAT, "epochs": 1.5}))),
    Case("object-array", train(), ("ck.npz", "'classifier.bias' is an object array that needs pickle"),
         setup=ck(npz_bytes({"format": FORMAT}, **{"classifier.bias": np.array([{"a": 1}], dtype=object)}))),
    Case("float64-param", train(), ("ck.npz", "'classifier.bias' is float64"),
         setup=ck(npz_bytes({"format": FORMAT}, **{"classifier.bias": np.zeros(2)}))),
    Case("no-params", train(), ("ck.npz holds no parameters",),
         setup=ck(npz_bytes(..., __meta__=np.array(json.dumps({"format": FORMAT}))))),
    Case("member-not-npy", train(), ("ck.npz", "member 'notes.txt' is not a numpy array"),
         setup=ck(zip_with("notes.txt", b"hello"))),
    Case("size-lie", train(), ("ck.npz inflates to", "bytes"), setup=ck(lying_size(GOOD))),
    Case("temp-of-interrupted-save", train("runs/a/.checkpoint.npz.4242.tmp"),
         (".checkpoint.npz.4242.tmp is the temporary file of an unfinished save",),
         setup=files({"runs/a/.checkpoint.npz.4242.tmp": GOOD})),
    Case("old-style-temp", train("runs/a/checkpoint.npz.tmp.npz"), ("checkpoint.npz.tmp.npz is the temporary file",),
         setup=files({"runs/a/checkpoint.npz.tmp.npz": GOOD})),
    Case("another-models-checkpoint", train(), ("ck.npz", "'blocks.99.conv.bias' is not in the training program",
                                                "another model"),
         setup=ck(npz_bytes({"format": FORMAT}, **{"blocks.99.conv.bias": np.zeros(4, np.int32)}))),
    Case("wrong-head-size", train(), ("ck.npz", "'classifier.bias' is int32 (10,)", "expects int32 (2,)"),
         setup=ck(npz_bytes({"format": FORMAT}, **{"classifier.bias": np.zeros(10, np.int32)}))),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
