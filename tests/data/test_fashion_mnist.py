"""Fashion-MNIST IDX files: header parsing, magic numbers, agreement with the lossless samples."""
import gzip

import numpy as np
import pytest

from tvm_tinytrain.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx
from tvm_tinytrain.data.samples import load_samples
from tvm_tinytrain.errors import TinyTrainError


def test_test_split_matches_samples():
    images, labels = load_fashion_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [1000] * 10
    for k, (img, label) in enumerate(load_samples("fashionMNIST")):
        assert labels[k] == label and np.array_equal(np.asarray(img.convert("L")), images[k])
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_train_split():
    images, labels = load_fashion_mnist("train")
    assert images.shape == (60000, 28, 28) and np.bincount(labels).tolist() == [6000] * 10


def _idx(path, magic, dims, body):
    header = np.asarray([magic, *dims], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(body)))
    return path


def test_bad_files_are_named(tmp_path):
    good = _idx(tmp_path / "ok.gz", 0x803, (2, 2, 2), range(8))
    assert read_idx(good, 3).tolist() == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    with pytest.raises(TinyTrainError, match=r"wrong\.gz has magic 0x00000801"):
        read_idx(_idx(tmp_path / "wrong.gz", 0x801, (8,), range(8)), 3)
    with pytest.raises(TinyTrainError, match=r"short\.gz.*truncated"):
        read_idx(_idx(tmp_path / "short.gz", 0x803, (2, 2, 2), range(7)), 3)
    (tmp_path / "plain.gz").write_bytes(b"not gzip at all")
    with pytest.raises(TinyTrainError, match=r"plain\.gz"):
        read_idx(tmp_path / "plain.gz", 1)
    with pytest.raises(TinyTrainError, match="split"):
        load_fashion_mnist("val")
