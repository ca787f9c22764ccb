"""`--data npz:PATH`: a user's own float arrays of any sample shape, their split, the input
quantization derived from them, and the 1-D convention (N, C, L) -> a (C, 1, L) model."""
from pathlib import Path

import numpy as np
import pytest

from tvm_tinytrain.data.datasets import DataSpec, load_dataset, parse_spec
from tvm_tinytrain.errors import ShapeError, TinyTrainError
from tvm_tinytrain.graph import QParams


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _signals(n, shape, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.standard_normal((n, *shape)) + y.reshape(-1, *[1] * len(shape))).astype(np.float32)
    return x, y


def test_spectrogram_with_test_set_and_names(tmp_path):
    """A (1, 40, 98) input (40 mels x 98 frames, non-square) as given, quantized over the training x."""
    x, y = _signals(12, (1, 40, 98))
    x_test, y_test = _signals(6, (1, 40, 98), seed=1)
    x_test[0, 0, 0, 0] = 1e3  # outside the training range: saturates
    spec = _write(tmp_path / "kws.npz", x=x, y=y, x_test=x_test, y_test=y_test, classes=np.array(["a", "b", "c"]))
    d = load_dataset(f"npz:{spec}", (1, 40, 98), progress=False)
    assert d.classes == ("a", "b", "c") and d.train_x.dtype == np.int8 and d.train_x.shape == (12, 1, 40, 98)
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    assert d.input_q.scale == pytest.approx((hi - lo) / 255) and d.input_q.zero == round(-128 - lo / d.input_q.scale)
    order = np.argsort(d.train_y, kind="stable")  # the loader shuffles; compare sample by sample
    back = d.to_float(d.train_x)
    for i in range(len(x)):
        j = np.flatnonzero([np.abs(back[k] - x[i]).max() <= d.input_q.scale / 2 + 1e-6 for k in order])
        assert len(j) == 1
    assert d.test_x.max() == 127 and sorted(d.test_y.tolist()) == sorted(y_test.tolist())


def test_one_d_signals_feed_a_c_1_l_model(tmp_path):
    x, y = _signals(20, (3, 200), classes=2)
    spec = _write(tmp_path / "imu.npz", x=x, y=y)
    d = load_dataset(spec, (3, 1, 200), progress=False)  # a bare .npz path is npz data
    assert d.train_x.shape[1:] == (3, 1, 200) and d.classes == ("0", "1")
    with pytest.raises(ShapeError, match=r"1-D samples \(C, L\) = \(3, 200\).*\(3, 1, 200\); the model takes "
                                         r"\(3, 200, 1\)"):
        load_dataset(spec, (3, 200, 1), progress=False)
    with pytest.raises(ShapeError, match=r"x samples are \(3, 200\)|1-D samples"):
        load_dataset(spec, (1, 3, 200), progress=False)


def test_image_shaped_arrays_must_match_the_model(tmp_path):
    x, y = _signals(8, (3, 10, 12), classes=2)
    spec = _write(tmp_path / "img.npz", x=x, y=y)
    assert load_dataset(f"npz:{spec}", (3, 10, 12), progress=False).train_x.shape[1:] == (3, 10, 12)
    with pytest.raises(ShapeError, match=r"x samples are \(3, 10, 12\) \(C, H, W\), the model takes \(3, 12, 10\).*"
                                         r"not resized"):
        load_dataset(f"npz:{spec}", (3, 12, 10), progress=False)


def test_fixed_split_and_quantization_belong_to_the_file(tmp_path):
    """Without x_test every class is split by a fixed seed; neither the split nor the input
    quantization depends on the run's seed, per-class subset or classes= choice."""
    x, y = _signals(40, (2, 16), classes=4)
    spec = _write(tmp_path / "s.npz", x=x, y=y)
    a = load_dataset(spec, (2, 1, 16), seed=0, progress=False)
    b = load_dataset(spec, (2, 1, 16), seed=5, progress=False)
    assert np.bincount(a.test_y).tolist() == [2] * 4 and np.bincount(a.train_y).tolist() == [8] * 4
    test_a = {x_.tobytes() for x_ in a.test_x}
    assert test_a == {x_.tobytes() for x_ in b.test_x} and not test_a & {x_.tobytes() for x_ in a.train_x}
    assert not np.array_equal(a.train_y, b.train_y)  # the seed orders the samples
    c = load_dataset(f"{spec}:classes=3,1", (2, 1, 16), train_per_class=2, progress=False)
    assert c.input_q == a.input_q and c.classes == ("3", "1") and np.bincount(c.train_y).tolist() == [2, 2]


def test_spec_kinds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "d.npz", x=np.zeros((2, 1, 4), np.float32), y=np.array([0, 1]))
    assert parse_spec("d.npz") == DataSpec("npz", Path("d.npz"))
    assert parse_spec("npz:d.npz:classes=1,0") == DataSpec("npz", Path("d.npz"), ("1", "0"))
    (tmp_path / "f.npz").mkdir()
    with pytest.raises(TinyTrainError, match="f.npz is a folder; npz:PATH is an .npz file"):
        parse_spec("npz:f.npz")
    with pytest.raises(TinyTrainError, match="npz:FILE.npz"):
        parse_spec("nothing-here")


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.zeros((4, 1, 8), np.float32), y=np.array([0, 1, 0, 1])), "every value of x is 0"),
    (dict(x=np.ones((4, 1, 8), np.float32), y=np.array([0, 2, 0, 2]), classes=np.array(["a", "b", "c"])),
     r"no training samples \(y\) of class\(es\) \[.b.\]"),
    (dict(x=np.ones((4, 1, 8), np.float32), y=np.array([0, 1, 0, 1]), classes=np.array(["a", "a"])),
     "'a' more than once"),
    (dict(x=np.arange(24, dtype=np.float32).reshape(3, 1, 8), y=np.array([0, 1, 1])), "class '0' has 1 sample"),
])
def test_value_checks(tmp_path, arrays, message):
    spec = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TinyTrainError, match=message):
        load_dataset(spec, (1, 1, 8), progress=False)


def test_derived_quantization_keeps_zero_exact(tmp_path):
    x = np.linspace(2, 5, 64, dtype=np.float32).reshape(4, 1, 16)  # all positive: the range is [0, 5]
    d = load_dataset(_write(tmp_path / "p.npz", x=x, y=np.array([0, 1, 0, 1])), (1, 1, 16), progress=False)
    assert d.input_q == QParams(pytest.approx(5 / 255), -128)


def test_size_cap_is_read_from_the_headers(tmp_path, monkeypatch):
    from tvm_tinytrain.data import npz_arrays

    x, y = _signals(8, (1, 16), classes=2)
    spec = _write(tmp_path / "big.npz", x=x, y=y, x_test=x, y_test=y)
    monkeypatch.setattr(npz_arrays, "MAX_VALUES", 255)
    monkeypatch.setattr(npz_arrays, "_read", lambda *a: pytest.fail("data read before the size check"))
    with pytest.raises(TinyTrainError, match=r"x and x_test hold 256 values .* more than 255; write a smaller file"):
        load_dataset(spec, (1, 1, 16), progress=False)
