"""MNIST npz: the fixed, stratified train/test split of the 10k digits."""
import numpy as np
import pytest

from tvm_tinytrain.data.mnist import load_mnist
from tvm_tinytrain.errors import TinyTrainError

COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_split_is_a_stratified_partition():
    (xtr, ytr), (xte, yte) = load_mnist("train"), load_mnist("test")
    assert xtr.shape[1:] == (28, 28) and xtr.dtype == np.uint8 and ytr.dtype == np.int64
    assert len(xtr) + len(xte) == 10000
    assert (np.bincount(ytr) + np.bincount(yte)).tolist() == COUNTS
    assert np.allclose(np.bincount(yte) / COUNTS, 0.2, atol=0.002)
    # disjoint: no train digit equals a test digit (the 10k digits are all distinct)
    seen = {x.tobytes() for x in xtr}
    assert not any(x.tobytes() in seen for x in xte)


def test_split_is_fixed():
    a, b = load_mnist("test"), load_mnist("test")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_bad_split():
    with pytest.raises(TinyTrainError, match="split"):
        load_mnist("validation")
