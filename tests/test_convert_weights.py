"""convert_pkl: real-data round trip, and refusal of unsafe / broken / clobbering inputs."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tvm_tinytrain.convert_weights import convert_pkl, load_converted
from tvm_tinytrain.errors import WeightFileError

WEIGHTS = Path("/work/shared/datasets/weights/tiny-training-int8")
MODELS = ["mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3"]

torch = pytest.importorskip("torch")  # only the tests write torch files; the module never imports torch


def _save(obj, path, how):
    if how == "torch_zip":
        torch.save(obj, path)
    elif how == "torch_legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:  # "pickle<protocol>"
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=int(how[len("pickle"):]))


def _assert_same_as_shared(model, npz_path, json_path):
    shared_json = WEIGHTS / f"{model}.json"
    assert json.loads(json_path.read_text()) == json.loads(shared_json.read_text())
    assert json_path.read_text() == shared_json.read_text()  # same formatting too
    with np.load(npz_path, allow_pickle=False) as got, \
            np.load(WEIGHTS / f"{model}.npz", allow_pickle=False) as want:
        assert list(got.keys()) == list(want.keys())
        for key in want.keys():
            assert got[key].dtype == want[key].dtype, key
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.skipif(not WEIGHTS.is_dir(), reason="shared weights not staged")
@pytest.mark.parametrize("model", MODELS)
def test_round_trip_real_weights_torch_save(model, tmp_path):
    obj = load_converted(WEIGHTS / f"{model}.json")
    pkl = tmp_path / f"{model}.pkl"
    torch.save(obj, pkl)  # the paper's file format
    npz_path, json_path = convert_pkl(pkl)
    assert (npz_path, json_path) == (tmp_path / f"{model}.npz", tmp_path / f"{model}.json")
    _assert_same_as_shared(model, npz_path, json_path)


@pytest.mark.skipif(not WEIGHTS.is_dir(), reason="shared weights not staged")
@pytest.mark.parametrize("how", ["pickle2", "pickle4", "pickle5", "torch_legacy"])
def test_round_trip_real_weights_plain_pickle(how, tmp_path):
    model = "mcunet-5fps"
    pkl = tmp_path / f"{model}.pkl"
    _save(load_converted(WEIGHTS / f"{model}.json"), pkl, how)
    out = tmp_path / "out"
    npz_path, json_path = convert_pkl(pkl, out_dir=out)
    assert npz_path.parent == out
    _assert_same_as_shared(model, npz_path, json_path)


def test_numpy_scalars_tuples_and_ordered_dicts(tmp_path):
    from collections import OrderedDict
    obj = {"s": OrderedDict(b=np.float32(0.5), a=np.int64(-3), t=np.bool_(True)),
           "k": (3, 3), "x": [None, 1.25, "relu", {"w": np.zeros((2, 3), np.float16)}]}
    pkl = tmp_path / "m.pkl"
    torch.save(obj, pkl)
    _, json_path = convert_pkl(pkl)
    tree = json.loads(json_path.read_text())
    assert list(tree["s"]) == ["b", "a", "t"]
    assert tree["s"] == {"b": 0.5, "a": -3, "t": True} and type(tree["s"]["a"]) is int
    assert tree["k"] == [3, 3]
    assert tree["x"][3]["w"] == {"__array__": "x.3.w", "dtype": "float16", "shape": [2, 3]}
    back = load_converted(json_path)
    assert back["x"][3]["w"].dtype == np.float16 and back["x"][3]["w"].shape == (2, 3)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("how", ["pickle2", "pickle4", "torch_zip"])
def test_malicious_pickle_is_refused_without_running(how, tmp_path):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl"
    _save({"weight": np.ones(3), "payload": _Evil(marker)}, pkl, how)
    with pytest.raises(WeightFileError) as e:
        convert_pkl(pkl)
    msg = str(e.value)
    assert f"'{os.system.__module__}.system'" in msg  # posix.system on Linux
    assert "pickles can run code" in msg
    assert not marker.exists()
    assert not (tmp_path / "evil.npz").exists() and not (tmp_path / "evil.json").exists()


@pytest.mark.parametrize("how", ["torch_zip", "torch_legacy", "pickle4"])
def test_torch_tensor_is_refused(how, tmp_path):
    pkl = tmp_path / "t.pkl"
    _save({"weight": torch.zeros(2, 2)}, pkl, how)
    with pytest.raises(WeightFileError) as e:
        convert_pkl(pkl)
    msg = str(e.value)
    assert "'torch._utils._rebuild_tensor_v2'" in msg and "save numpy arrays" in msg
    assert list(tmp_path.iterdir()) == [pkl]


def test_persistent_id_is_refused(tmp_path):
    class StoragePickler(pickle.Pickler):  # how torch.save stores tensor data
        def persistent_id(self, obj):
            return ("storage", "0") if isinstance(obj, bytearray) else None

    pkl = tmp_path / "p.pkl"
    with open(pkl, "wb") as f:
        StoragePickler(f, protocol=2).dump({"w": bytearray(b"1234")})
    with pytest.raises(WeightFileError, match="refused persistent id.*pickles can run code"):
        convert_pkl(pkl)


@pytest.mark.parametrize("how", ["torch_zip", "pickle4"])
def test_truncated_file(how, tmp_path):
    pkl = tmp_path / "m.pkl"
    _save({"w": np.arange(1000, dtype=np.int8), "b": [1, 2, 3]}, pkl, how)
    data = pkl.read_bytes()
    pkl.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match="truncated"):
        convert_pkl(pkl)
    assert list(tmp_path.iterdir()) == [pkl]


def test_missing_file(tmp_path):
    with pytest.raises(WeightFileError, match="does not exist"):
        convert_pkl(tmp_path / "nope.pkl")


def test_top_level_list_is_refused(tmp_path):
    pkl = tmp_path / "m.pkl"
    torch.save([np.zeros(2)], pkl)
    with pytest.raises(WeightFileError, match="list at the top level"):
        convert_pkl(pkl)


@pytest.mark.parametrize("value, type_name", [(np.complex64(1 + 2j), "complex64"),
                                               ({1, 2}, "set"), (b"raw", "bytes")])
def test_unrepresentable_value_names_key_path(value, type_name, tmp_path):
    pkl = tmp_path / "m.pkl"
    _save({"blocks": [{"w": np.zeros(1)}, {"scale": value}]}, pkl, "pickle4")
    with pytest.raises(WeightFileError, match=rf"'blocks\.1\.scale' has type {type_name}\b"):
        convert_pkl(pkl)
    assert list(tmp_path.iterdir()) == [pkl]


def test_object_array_is_refused(tmp_path):
    pkl = tmp_path / "m.pkl"
    _save({"a": {"w": np.array([1, "x"], dtype=object)}}, pkl, "pickle4")
    with pytest.raises(WeightFileError, match=r"'a\.w' has dtype object"):
        convert_pkl(pkl)


def test_existing_outputs_need_force(tmp_path):
    pkl = tmp_path / "m.pkl"
    torch.save({"w": np.arange(4, dtype=np.int32)}, pkl)
    npz_path, json_path = tmp_path / "m.npz", tmp_path / "m.json"
    json_path.write_text("keep me")
    with pytest.raises(WeightFileError, match="--force"):
        convert_pkl(pkl)
    assert json_path.read_text() == "keep me" and not npz_path.exists()

    npz_path.write_bytes(b"old npz")
    json_path.unlink()
    with pytest.raises(WeightFileError, match="another output folder"):
        convert_pkl(pkl)
    assert npz_path.read_bytes() == b"old npz" and not json_path.exists()

    json_path.write_text("keep me")
    assert convert_pkl(pkl, force=True) == (npz_path, json_path)
    np.testing.assert_array_equal(load_converted(json_path)["w"], np.arange(4, dtype=np.int32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.npz", "m.pkl"]
