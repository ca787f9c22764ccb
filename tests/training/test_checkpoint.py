"""Checkpoints: split slices are reassembled, a checkpoint loads back into a program, and bad
files or mismatched programs give clear errors; nothing existing is overwritten silently; a
save is atomic and its temporary file is never taken for a checkpoint."""
import json
import os
import zipfile

import numpy as np
import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.errors import TinyTrainError, WeightFileError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.scheme import is_state
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.training import checkpoint as ck
from tvm_tinytrain.training.checkpoint import apply_checkpoint, load_checkpoint, save_checkpoint, whole_params


@pytest.fixture(scope="module")
def graph():
    return load_backbone("mcunet-5fps", num_classes=10)


def test_whole_params_puts_slices_back():
    initial = {"a.weight": np.zeros((4, 6, 1, 1), np.int8), "d.weight": np.zeros((5, 1, 3, 3), np.int8),
               "a.bias": np.zeros(4, np.int32)}
    memory = {"trained_params": [{"name": "a.weight", "slice": 2, "depthwise": False},
                                 {"name": "d.weight", "slice": 3, "depthwise": True}, {"name": "a.bias"}]}
    trained = {"a.weight": np.ones((4, 2, 1, 1), np.int8), "d.weight": np.full((3, 1, 3, 3), 2, np.int8),
               "a.bias": np.arange(4, dtype=np.int32)}
    out = whole_params(trained, memory, initial)
    assert out["a.weight"][:, :2].min() == 1 and out["a.weight"][:, 2:].max() == 0
    assert (out["d.weight"][:3] == 2).all() and (out["d.weight"][3:] == 0).all()
    assert initial["a.weight"].max() == 0  # the program's initial values are not modified
    np.testing.assert_array_equal(out["a.bias"], np.arange(4))


def test_round_trip_into_a_program(graph, tmp_path):
    program = build_training(graph, resolve_scheme("last-1", graph))
    name = program.updated[0]
    changed = np.asarray(program.params[name]).copy()
    changed.flat[0] = changed.flat[0] // 2 + 1
    path = save_checkpoint(tmp_path / "ck.npz", {name: changed}, {"model": graph.name})
    params, meta = load_checkpoint(path)
    assert meta["model"] == graph.name
    fresh = build_training(graph, resolve_scheme("last-1", graph))
    apply_checkpoint(fresh, params)
    np.testing.assert_array_equal(fresh.params[name], changed)
    with pytest.raises(TinyTrainError, match="exists"):
        save_checkpoint(path, {name: changed}, {})


def test_momentum_state_round_trips_and_is_dropped_without_momentum(graph, tmp_path):
    """The velocities are part of a momentum program's state: a checkpoint carries them into
    another momentum program; a program without momentum takes the trained values alone."""
    program = build_training(graph, resolve_scheme("last-1", graph, momentum=0.9))
    states = [n for n in program.updated if is_state(n)]
    assert states and all(not np.any(program.params[n]) for n in states)  # they start at zero
    trained = {n: np.asarray(program.params[n]) + (1 if is_state(n) else 0) for n in program.updated}
    params, _ = load_checkpoint(save_checkpoint(tmp_path / "ck.npz", trained, {"model": graph.name}))
    fresh = build_training(graph, resolve_scheme("last-1", graph, momentum=0.9))
    apply_checkpoint(fresh, params)
    assert all(np.all(fresh.params[n] == 1) for n in states)
    plain = build_training(graph, resolve_scheme("last-1", graph))
    apply_checkpoint(plain, params)
    assert not any(is_state(n) for n in plain.params)


def test_float_copy_round_trips_or_starts_at_the_checkpoints_integers(graph, tmp_path):
    """A checkpoint with float copies restores them; a checkpoint without (a run without float_copy) starts
    each copy at the checkpoint's own integers on the trained slice, not at the pretrained ones, and
    apply_checkpoint names the states it started so (train prints them)."""
    scheme = resolve_scheme("last-1", graph, float_copy=True)
    program = build_training(graph, scheme)
    copies = [n for n in program.updated if n.endswith(".float_copy")]
    assert copies
    trained = {n: np.asarray(program.params[n]) + (np.float32(0.25) if n in copies else 0) for n in program.updated}
    params, _ = load_checkpoint(save_checkpoint(tmp_path / "copy.npz", trained, {"model": graph.name}))
    fresh = build_training(graph, scheme)
    assert apply_checkpoint(fresh, params) == []
    for name in copies:
        np.testing.assert_array_equal(fresh.params[name], trained[name])
    plain = build_training(graph, resolve_scheme("last-1", graph))
    low = {np.dtype(np.int8): -128, np.dtype(np.int32): -2**31}
    moved = {n: np.maximum(np.asarray(v).astype(np.int64) - 3, low[v.dtype]).astype(v.dtype)
             for n, v in ((n, plain.params[n]) for n in plain.updated)}
    params, _ = load_checkpoint(save_checkpoint(tmp_path / "plain.npz", moved, {"model": graph.name}))
    fresh = build_training(graph, scheme)
    assert sorted(apply_checkpoint(fresh, params)) == sorted(copies)
    for name in copies:
        value = moved[name.rsplit(".", 1)[0]]
        start = value[tuple(slice(0, n) for n in fresh.params[name].shape)].astype(np.float32)
        np.testing.assert_array_equal(fresh.params[name], start)
        assert np.any(fresh.params[name] != program.params[name])


def test_mismatches_and_bad_files_are_explained(graph, tmp_path):
    program = build_training(graph, resolve_scheme("bias-only", graph))
    with pytest.raises(TinyTrainError, match="not in the training program"):
        apply_checkpoint(program, {"nope.weight": np.zeros(3, np.int8)})
    name = program.updated[0]
    with pytest.raises(TinyTrainError, match="expects"):
        apply_checkpoint(program, {name: np.zeros(3, np.float32)})
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(2))
    with pytest.raises(WeightFileError, match="not a tvm-tinytrain checkpoint"):
        load_checkpoint(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(WeightFileError, match="not an npz"):
        load_checkpoint(tmp_path / "junk.npz")
    with pytest.raises(WeightFileError, match="not found"):
        load_checkpoint(tmp_path / "missing.npz")


# -- bad files: each one WeightFileError naming the file and the problem ------------------------------
GOOD = {"a.weight": np.ones((2, 3), np.int8), "a.bias": np.arange(2, dtype=np.int32)}


def _npz(path, meta=None, **arrays):
    """An npz like a checkpoint, with `meta` (a dict, or any raw __meta__ value) unless it is ...."""
    blob = dict(GOOD) if not arrays else arrays
    if meta is not ...:
        meta = {"format": ck.FORMAT, "model": "m"} if meta is None else meta
        blob["__meta__"] = np.array(json.dumps(meta)) if isinstance(meta, dict) else meta
    with open(path, "wb") as f:
        np.savez(f, **blob)


def _write(path, save, *args, **kwargs):
    """save(file, ...) into `path`, closed before the test reads it."""
    with open(path, "wb") as f:
        save(f, *args, **kwargs)


def _zip_member(path, name, data, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr(name, data)


def _good(path):
    save_checkpoint(path, GOOD, {"model": "m"})
    return path.read_bytes()


def _corrupt_member(path):
    data = bytearray(_good(path))
    at = data.index(b"\x01\x01\x01\x01\x01\x01")  # a.weight's data: the CRC no longer matches
    data[at] = 7
    path.write_bytes(bytes(data))


BAD = {
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "not-a-zip": (lambda p: p.write_bytes(b"PK but not a zip at all"), "not an npz"),
    "truncated": (lambda p: p.write_bytes(_good(p)[:300]), "not an npz"),
    "cut-before-directory": (lambda p: p.write_bytes(_good(p)[:-30]), "not an npz"),
    "corrupt-member": (_corrupt_member, "corrupt"),
    "bare-npy": (lambda p: _write(p, np.save, np.zeros(3, np.int8)), "not an npz"),
    "no-meta": (lambda p: _npz(p, ...), "no __meta__"),
    "meta-number": (lambda p: _npz(p, np.array(3)), "__meta__ is int64"),
    "meta-list": (lambda p: _npz(p, np.array(["a", "b"])), "__meta__ is <U1 (2,)"),
    "meta-bytes": (lambda p: _npz(p, np.array(b'{"format": 1}')), "__meta__ is |S"),
    "meta-bad-json": (lambda p: _npz(p, np.array("{format")), "not valid JSON"),
    "meta-json-list": (lambda p: _npz(p, np.array("[1, 2]")), "a JSON list, expected an object"),
    "meta-json-string": (lambda p: _npz(p, np.array('"hello"')), "a JSON str, expected an object"),
    "meta-no-format": (lambda p: _npz(p, {"model": "m"}), "unknown checkpoint format"),
    "meta-model-number": (lambda p: _npz(p, {"format": ck.FORMAT, "model": 3}), "'model' is 3, expected str"),
    "meta-epochs-text": (lambda p: _npz(p, {"format": ck.FORMAT, "epochs": "2"}), "'epochs' is \"2\", expected int"),
    "meta-epochs-bool": (lambda p: _npz(p, {"format": ck.FORMAT, "epochs": True}), "'epochs' is true"),
    "meta-classes-numbers": (lambda p: _npz(p, {"format": ck.FORMAT, "classes": [0, 1]}), "list of strings"),
    "meta-accuracy-text": (lambda p: _npz(p, {"format": ck.FORMAT, "test_accuracy": "high"}), "test_accuracy"),
    "object-array": (lambda p: _npz(p, None, **{"a.weight": np.array([{"x": 1}], dtype=object)}), "needs pickle"),
    "float64-param": (lambda p: _npz(p, None, **{"a.weight": np.zeros(3)}), "float64"),
    "no-params": (lambda p: _write(p, np.savez, __meta__=np.array(json.dumps({"format": ck.FORMAT}))),
                  "no parameters"),
    "member-not-npy": (lambda p: _zip_member(p, "a.weight", b"raw bytes"), "not a numpy array"),
    "inflates-too-much": (lambda p: _zip_member(p, "a.weight.npy", bytes(2 << 20), zipfile.ZIP_DEFLATED),
                          "inflates to"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_checkpoint_files(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "MAX_BYTES", 1 << 20)
    make, fragment = BAD[kind]
    path = tmp_path / "ck.npz"
    make(path)
    with pytest.raises(WeightFileError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and fragment in str(err.value), str(err.value)


def test_folder_and_temporary_names_are_refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(WeightFileError, match="is a folder"):
        load_checkpoint(tmp_path / "run")
    _good(tmp_path / "checkpoint.npz")
    for name in ("checkpoint.npz.tmp.npz", f".checkpoint.npz.{os.getpid()}.tmp", ".checkpoint.npz.a1b2c3d4.tmp"):
        os.link(tmp_path / "checkpoint.npz", tmp_path / name)  # a complete file: refused for its name alone
        with pytest.raises(WeightFileError, match="temporary file of an unfinished save"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(TinyTrainError, match="'.tmp'"):
        save_checkpoint(tmp_path / "x.tmp.npz", GOOD, {})


def test_save_is_atomic_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    old = _good(path)
    assert ck.temp_path(path).name == f".ck.npz.{os.getpid()}.tmp" and ck.looks_temporary(ck.temp_path(path))

    def dies_half_way(f, **arrays):
        f.write(b"PK half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"a.weight": np.zeros((2, 3), np.int8)}, {}, force=True)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["ck.npz"]

    def disk_full(f, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(TinyTrainError, match="cannot write checkpoint .*No space left"):
        save_checkpoint(path, GOOD, {}, force=True)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["ck.npz"]
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(TinyTrainError, match="is a folder"):
        save_checkpoint(tmp_path / "d.npz", GOOD, {}, force=True)


HASH_A, HASH_B = "a" * 64, "b" * 64


def test_check_quantization():
    logs = []
    ck.check_quantization({"quantization": HASH_A}, HASH_A, "checkpoint x", fixed=False, log=logs.append)
    assert not logs
    with pytest.raises(TinyTrainError, match=f"trained on quantization {HASH_A}.*quantization {HASH_B}.*quantize "
                                             f"once with `tvm-tinytrain quantize` and train from that file"):
        ck.check_quantization({"quantization": HASH_A}, HASH_B, "checkpoint x", fixed=True, log=logs.append)
    ck.check_quantization({}, HASH_B, "checkpoint x", fixed=True, log=logs.append)  # an old paper-backbone run
    assert len(logs) == 1 and logs[0].startswith("warning: checkpoint x records no quantization")
    with pytest.raises(TinyTrainError, match="records no quantization, and the model is fp32"):
        ck.check_quantization({}, HASH_B, "checkpoint x", fixed=False, log=logs.append)


@pytest.mark.parametrize("value", ["abc", "A" * 64, 7, None])
def test_quantization_field_is_a_sha256(value, tmp_path):
    params = {"c.bias": np.zeros(2, np.int32)}
    path = save_checkpoint(tmp_path / "c.npz", params, {"model": "m", "quantization": value})
    with pytest.raises(WeightFileError, match="quantization"):
        load_checkpoint(path)
