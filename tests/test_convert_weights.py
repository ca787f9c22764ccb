"""convert_pkl: real-data round trip, and refusal of unsafe / broken / clobbering inputs."""

import json
import os
import pickle
import zipfile
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


# --- the paper's own .pkl files ------------------------------------------------------------

PKL = Path("/work/shared/datasets/weights/tiny-training-pkl")


@pytest.mark.skipif(not PKL.is_dir(), reason="shared .pkl weights not staged")
@pytest.mark.parametrize("model", MODELS)
def test_real_pkl_converts_to_the_shared_npz_json(model, tmp_path):
    npz_path, json_path = convert_pkl(PKL / f"{model}.pkl", out_dir=tmp_path)
    _assert_same_as_shared(model, npz_path, json_path)


# --- hostile pickles: each refused before it can allocate, read memory or name a path --------

class _Reduce:
    """Pickles as ``func(*args)`` (+ BUILD ``state``): how a hostile file calls an admitted global."""

    def __init__(self, func, args, state=None):
        self.value = (func, args) if state is None else (func, args, state)

    def __reduce__(self):
        return self.value


_reconstruct = np._core.multiarray._reconstruct
_frombuffer = np._core.numeric._frombuffer


def _write(tmp_path, obj, protocol=2):
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(pickle.dumps(obj, protocol=protocol))
    return pkl


def _refused(pkl, match):
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(WeightFileError, match=match):
            convert_pkl(pkl)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes allocated before the refusal"
    assert sorted(p.name for p in pkl.parent.iterdir()) == [pkl.name]  # nothing written


def test_direct_ndarray_call_is_refused_before_allocating(tmp_path):
    """The issue's 57-byte pickle: numpy.ndarray(shape) would allocate 256 MiB of uninitialised memory."""
    pkl = _write(tmp_path, {"w": _Reduce(np.ndarray, ((2**25,), "f8"))})
    assert len(pkl.read_bytes()) < 80
    _refused(pkl, r"refused a direct call of numpy\.ndarray.*uninitialised")


@pytest.mark.parametrize("reduce_, match", [
    # ndarray(shape) of 20 KB: uninitialised process memory written into the npz
    (_Reduce(np.ndarray, ((20000,), "u1")), r"numpy\.ndarray"),
    # _reconstruct with a real shape and no state: the same, through numpy's own reduction
    (_Reduce(_reconstruct, (np.ndarray, (20000,), b"b")), r"only numpy's own form"),
    # the state's data shorter than its shape: numpy would read past the buffer or refuse
    (_Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, (20000,), np.dtype("u1"), False, b"x" * 16)),
     r"16 bytes of data; its data must be exactly 20000 bytes"),
    (_Reduce(_frombuffer, (bytearray(16), np.dtype("u1"), (20000,), "C")), r"exactly 20000 bytes"),
    (_Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, (-5,), np.dtype("u1"), False, b"")), "non-negative"),
], ids=["ndarray-uninitialised", "reconstruct-without-state", "state-data-short", "frombuffer-short",
        "negative-shape"])
def test_uninitialised_or_foreign_memory_is_refused(reduce_, match, tmp_path):
    _refused(_write(tmp_path, {"w": reduce_}, protocol=5), match)


@pytest.mark.parametrize("protocol", [2, 5])
def test_huge_declared_shape_is_refused_before_allocating(protocol, tmp_path):
    state = (1, (2**40,), np.dtype("f8"), False, b"\0" * 8)
    _refused(_write(tmp_path, {"w": _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), state)}, protocol),
             r"8,796,093,022,208 bytes\); arrays are limited to 268,435,456 bytes")


def test_length_prefix_beyond_the_data_is_refused_before_allocating(tmp_path):
    """BINBYTES8 claiming 2**35 bytes: the unpickler would allocate them before finding the file short."""
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"\x80\x04\x8e" + (2**35).to_bytes(8, "little") + b"abc.")
    _refused(pkl, "truncated or not a valid pickle")


@pytest.mark.parametrize("dtype", ["U5", "S4", "V8", "M8[s]"])
def test_non_numeric_dtype_is_refused_naming_the_key(dtype, tmp_path):
    _refused(_write(tmp_path, {"a": {"w": np.zeros(2, dtype)}}, 4), r"'a\.w' has dtype")


def test_total_of_shared_arrays_is_capped(tmp_path, monkeypatch):
    import tvm_tinytrain.convert_weights as cw
    monkeypatch.setattr(cw, "MAX_TOTAL_BYTES", 1 << 20)
    shared = np.zeros(1000)  # pickled once, referenced 200 times: 1.6 MB to write
    _refused(_write(tmp_path, {"a": [shared] * 200}, 4), "arrays to write exceed 1,048,576 bytes")


def test_deep_nesting_is_a_clear_error(tmp_path):
    """200,000 nested lists: RecursionError before; now one message naming the depth."""
    depth = 200_000
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"\x80\x02}X\x01\x00\x00\x00a" + b"]" * depth + b"a" * (depth - 1) + b"s.")
    with pytest.raises(WeightFileError, match=r"nested more than 64 levels deep at 'a\.0\.0"):
        convert_pkl(pkl)
    assert list(tmp_path.iterdir()) == [pkl]


def test_one_list_shared_many_times_over_is_refused(tmp_path):
    value = [0]
    for _ in range(21):  # 2**21 leaves from a pickle of a few hundred bytes (its memo shares them)
        value = [value, value]
    pkl = _write(tmp_path, {"a": value}, 4)
    with pytest.raises(WeightFileError, match="more than 1,000,000 values"):
        convert_pkl(pkl)


@pytest.mark.parametrize("key", ["../x", "a/b", "\x00", "..", "/etc/passwd", "a\\b", "x y", "", "a.", "é"])
@pytest.mark.parametrize("nested", [False, True])
def test_hostile_keys_never_name_npz_members(key, nested, tmp_path):
    obj = {"w": {key: np.zeros(2, np.int8)}} if nested else {key: np.zeros(2, np.int8)}
    pkl = _write(tmp_path, obj, 4)
    with pytest.raises(WeightFileError, match="cannot be an npz member"):
        convert_pkl(pkl)
    assert list(tmp_path.iterdir()) == [pkl]


def test_odd_keys_of_plain_values_stay_in_the_json(tmp_path):
    pkl = _write(tmp_path, {"note": {"a/b ..": 1}, "w": np.arange(3, dtype=np.int8)}, 4)
    npz_path, json_path = convert_pkl(pkl)
    assert json.loads(json_path.read_text())["note"] == {"a/b ..": 1}
    with np.load(npz_path) as npz:
        assert list(npz.keys()) == ["w"]


def _torch_like_zip(path, member_bytes, compress=True):
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode, compresslevel=1) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as member:
            for chunk in member_bytes:
                member.write(chunk)


def test_zip_bomb_is_refused_without_inflating(tmp_path):
    """A 1.4 MB archive whose data.pkl inflates to 300 MB: refused from its header, RSS stays flat."""
    import subprocess
    import sys
    bomb = tmp_path / "bomb.pkl"
    _torch_like_zip(bomb, [pickle.dumps({"w": 1}, protocol=2)] + [bytes(1 << 20)] * 300)
    assert bomb.stat().st_size < 2 << 20
    script = (
        "import resource, sys\n"
        "from tvm_tinytrain.convert_weights import convert_pkl\n"
        "from tvm_tinytrain.errors import WeightFileError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    convert_pkl(sys.argv[1], out_dir=sys.argv[2]); message = 'accepted'\n"
        "except WeightFileError as e:\n"
        "    message = str(e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
        "print(message)\n")
    done = subprocess.run([sys.executable, "-c", script, str(bomb), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    grown_kb, message = done.stdout.split("\n", 1)
    assert "zip bomb" in message and "archive/data.pkl" in message
    assert int(grown_kb) < 100 << 10, f"RSS grew by {int(grown_kb) >> 10} MB"


def test_zip_member_declaring_more_than_the_cap_is_refused_from_its_header(tmp_path):
    import tvm_tinytrain.convert_weights as cw
    pkl = tmp_path / "big.pkl"
    _torch_like_zip(pkl, [pickle.dumps({"w": 1}, protocol=2)], compress=False)
    data = bytearray(pkl.read_bytes())
    central = data.index(b"PK\x01\x02")  # central directory: compressed, uncompressed size at +20, +24
    data[central + 24:central + 28] = (cw.MAX_FILE_BYTES + 1).to_bytes(4, "little")
    pkl.write_bytes(bytes(data))
    with pytest.raises(WeightFileError, match=r"archive/data\.pkl inflates from .* to 1,140,850,689 bytes"):
        convert_pkl(pkl)


def test_reader_stops_at_the_declared_size():
    import io
    from tvm_tinytrain.convert_weights import _read_bounded
    assert _read_bounded(io.BytesIO(b"x" * 10), 10, "f") == b"x" * 10
    with pytest.raises(WeightFileError, match="f holds more than 9 bytes"):
        _read_bounded(io.BytesIO(b"x" * 10), 9, "f")


@pytest.mark.parametrize("make", ["folder", "fifo"])
def test_not_a_regular_file(make, tmp_path):
    path = tmp_path / "w.pkl"
    path.mkdir() if make == "folder" else os.mkfifo(path)
    with pytest.raises(WeightFileError, match="folder|not a regular file"):
        convert_pkl(path)


@pytest.mark.parametrize("name", [b"numpy\ndtype", b"_codecs\nencode", b"numpy._core.multiarray\n_reconstruct"])
def test_state_on_an_admitted_global_is_refused(name, tmp_path):
    """BUILD with slot state would setattr on what find_class returned (our wrappers, for every later load)."""
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"\x80\x02}X\x01\x00\x00\x00wc" + name + b"\nN}X\x0c\x00\x00\x00__defaults__)s\x86bs.")
    _refused(pkl, r"refused a state \(BUILD\) for .* \(a callable\)")
