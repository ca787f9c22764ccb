"""Checkpoints: split slices are reassembled, a checkpoint loads back into a program, and bad
files or mismatched programs give clear errors; nothing existing is overwritten silently."""
import numpy as np
import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.errors import TinyTrainError, WeightFileError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme
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
    with pytest.raises(WeightFileError, match="cannot read"):
        load_checkpoint(tmp_path / "junk.npz")
    with pytest.raises(WeightFileError, match="not found"):
        load_checkpoint(tmp_path / "missing.npz")
