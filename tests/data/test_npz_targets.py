"""Float targets for the MSE loss: an npz's t / t_test beside x, and the spec option targets=inputs
(an autoencoder's target is its input), paired with the loss by check_loss."""
import numpy as np
import pytest

from tvm_tinytrain.data.datasets import DataSpec, check_loss, load_dataset, parse_spec
from tvm_tinytrain.data.npz_arrays import quantize
from tvm_tinytrain.errors import ShapeError, TinyTrainError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def _xt(n, seed=0):
    """x (n, 2, 8) and t (n, 3) whose first value is the sample's index (to match rows)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, 8)).astype(np.float32)
    t = rng.standard_normal((n, 3)).astype(np.float32)
    x[:, 0, 0] = t[:, 0] = np.arange(n)
    return x, t


def test_t_without_labels_is_one_class_split_with_its_rows(tmp_path):
    x, t = _xt(20)
    d = load_dataset(_write(tmp_path / "r.npz", x=x, t=t), (2, 1, 8), progress=False)
    assert d.targets == "t" and d.classes == ("all",) and len(d.train_x) + len(d.test_x) == 20
    assert d.train_t.dtype == np.float32 and d.train_t.shape == (len(d.train_x), 3) and len(d.test_t) == len(d.test_x)
    for split in ("train", "test"):  # each target row stays with its input through split and shuffle
        xs = getattr(d, f"{split}_x")
        for i in range(len(xs)):
            k = int(d.target(split, i)[0])
            np.testing.assert_array_equal(xs[i].reshape(2, 8), quantize(x[k], d.input_q))
            np.testing.assert_array_equal(d.target(split, i), t[k])
    few = load_dataset(_write(tmp_path / "r.npz", x=x, t=t), (2, 1, 8), train_per_class=5, progress=False)
    assert len(few.train_x) == len(few.train_t) == 5


def test_t_with_labels_and_a_test_set(tmp_path):
    x, t = _xt(12)
    xt, tt = _xt(4, seed=1)
    spec = _write(tmp_path / "l.npz", x=x, t=t, y=np.arange(12) % 2, x_test=xt, t_test=tt, y_test=np.arange(4) % 2)
    d = load_dataset(f"{spec}:classes=1", (2, 1, 8), progress=False)  # float targets: one class may be kept
    assert d.classes == ("1",) and len(d.train_x) == 6 and len(d.test_x) == 2
    assert {int(d.target("test", i)[0]) for i in range(2)} == {1, 3}


def test_targets_inputs_are_the_real_values_of_the_int8_inputs(tmp_path):
    x, _ = _xt(10)
    d = load_dataset(_write(tmp_path / "a.npz", x=x) + ":targets=inputs", (2, 1, 8), progress=False)
    assert d.targets == "inputs" and d.train_t is None
    np.testing.assert_array_equal(d.target("train", 3), d.to_float(d.train_x[3]).reshape(-1))
    assert d.target("test", 0).shape == (16,) and d.target("test", 0).dtype == np.float32


def test_spec_option():
    assert parse_spec("cifar10:targets=inputs:classes=cat") == DataSpec("cifar10", None, ("cat",), "inputs")
    for bad in ("cifar10:targets=t", "cifar10:targets=inputs:targets=inputs", "cifar10:targets="):
        with pytest.raises(TinyTrainError, match="targets=inputs|bad option"):
            parse_spec(bad)


@pytest.mark.parametrize("arrays, spec_tail, message", [
    (dict(t=np.zeros((10, 3), np.float64)), "", r"t is float64 \(10, 3\), expected float32 \(N, K\)"),
    (dict(t=np.zeros((10, 1, 3), np.float32)), "", r"t is float32 \(10, 1, 3\).*reshape\(len\(t\), -1\)"),
    (dict(t=np.zeros((9, 3), np.float32)), "", "x holds 10 samples but t 9 targets"),
    (dict(t=np.full((10, 3), np.nan, np.float32)), "", r"t holds NaN \(sample 0, 10 sample\(s\).*targets must be finite"),
    (dict(t=np.zeros((10, 3), np.float32)), ":targets=inputs", "holds targets t, but the spec says targets=inputs"),
    (dict(t=np.zeros((10, 3), np.float32), x_test=np.ones((2, 2, 8), np.float32)), "", "has t and x_test but no t_test"),
    (dict(t_test=np.zeros((2, 3), np.float32)), "", "has t_test but no t"),
    (dict(y_test=np.zeros(2, np.int64), x_test=np.ones((2, 2, 8), np.float32)), ":targets=inputs",
     "has y_test but no y"),
    (dict(), ":targets=inputs:classes=0", "classes= .* selects by the labels y, and the file has none"),
])
def test_bad_targets(tmp_path, arrays, spec_tail, message):
    x, _ = _xt(10)
    with pytest.raises(TinyTrainError, match=message):
        load_dataset(_write(tmp_path / "b.npz", x=x, **arrays) + spec_tail, (2, 1, 8), progress=False)


def test_check_loss_pairs_data_and_loss(tmp_path):
    x, t = _xt(10)
    labelled = load_dataset(_write(tmp_path / "c.npz", x=x, y=np.arange(10) % 2), (2, 1, 8), progress=False)
    check_loss(labelled, "cross_entropy", 2)
    with pytest.raises(TinyTrainError, match="--loss mse: .* has class labels, not float targets.*:targets=inputs"):
        check_loss(labelled, "mse", 16)
    targets = load_dataset(_write(tmp_path / "t.npz", x=x, t=t), (2, 1, 8), progress=False)
    check_loss(targets, "mse", 3)
    with pytest.raises(TinyTrainError, match=r"holds float targets \(t\).*--loss mse"):
        check_loss(targets, "cross_entropy", 3)
    with pytest.raises(ShapeError, match=r"t holds 3 values per sample, the model has 4 outputs.*\(N, 4\)"):
        check_loss(targets, "mse", 4)
    inputs = load_dataset(_write(tmp_path / "i.npz", x=x) + ":targets=inputs", (2, 1, 8), progress=False)
    check_loss(inputs, "mse", 16)
    with pytest.raises(ShapeError, match="each input holds 16 values per sample, the model has 3 outputs"):
        check_loss(inputs, "mse", 3)


def test_size_cap_counts_the_targets(tmp_path, monkeypatch):
    """Targets are float arrays as large as the inputs can be: the cap on values read from the
    headers counts them too, before any data is read."""
    from tvm_tinytrain.data import npz_arrays

    x, t = _xt(8)
    spec = _write(tmp_path / "big.npz", x=x, t=np.zeros((8, 30), np.float32))
    monkeypatch.setattr(npz_arrays, "MAX_VALUES", 8 * 16 + 8 * 30 - 1)
    monkeypatch.setattr(npz_arrays, "_read", lambda *a: pytest.fail("data read before the size check"))
    with pytest.raises(TinyTrainError, match=r"x and t hold 368 values .* more than 367"):
        load_dataset(spec, (2, 1, 8), progress=False)
