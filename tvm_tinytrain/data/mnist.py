"""MNIST from the staged npz: the first 10,000 training digits, with a fixed train/test split.

The npz (`x` uint8 (10000, 28, 28), `y` uint8, sorted by class) has no test part, so each
class is permuted with SPLIT_SEED and its first TEST_FRACTION goes to test.  The split is
fixed (independent of any training seed), so runs with different seeds share one test set.
"""
from __future__ import annotations

import zipfile
import zlib

import numpy as np

from ..errors import TinyTrainError
from ..paths import FORMS, damaged, find_data

MNIST_CLASSES = tuple(str(d) for d in range(10))
SPLITS = ("train", "test")
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def mnist_path():
    return find_data("mnist", *FORMS["mnist"])


def load_mnist(split: str = "test"):
    """(images uint8 (N, 28, 28), labels int64 (N,)), class by class in split order."""
    if split not in SPLITS:
        raise TinyTrainError(f"load_mnist: split must be one of {SPLITS}, got {split!r}")
    path = mnist_path()
    if not zipfile.is_zipfile(path):
        raise damaged("load_mnist", path, "not a zip (npz) archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise damaged("load_mnist", path, f"{type(e).__name__}: {e}; expected an npz with uint8 x and y") from None
    if (x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),)
            or y.dtype.kind not in "iu" or y.max(initial=0) >= len(MNIST_CLASSES)):
        raise damaged("load_mnist", path, f"it holds x {x.dtype} {x.shape}, y {y.dtype} {y.shape}; expected uint8 "
                                          f"(N, 28, 28) and labels 0..9 shaped (N,)")
    rng = np.random.default_rng(SPLIT_SEED)
    keep = []
    for label in range(len(MNIST_CLASSES)):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(TEST_FRACTION * len(idx)))
        keep.append(idx[:n_test] if split == "test" else idx[n_test:])
    keep = np.concatenate(keep)
    return x[keep], y[keep].astype(np.int64)
