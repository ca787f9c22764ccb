"""CIFAR-10 JPEG archive, streamed without unpacking."""
import numpy as np
import pytest

from tvm_tinytrain.data.cifar10 import CIFAR10_CLASSES, load_cifar10
from tvm_tinytrain.data.samples import load_samples
from tvm_tinytrain.errors import TinyTrainError


def test_per_class_one():
    images, labels = load_cifar10("test", per_class=1)
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.tolist() == list(range(10))
    assert CIFAR10_CLASSES[3] == "cat" and len(CIFAR10_CLASSES) == 10


def test_matches_lossless_sample():
    # test image 0 is a cat (test/cat/0000.jpg); the PNG in samples is the lossless original
    images, labels = load_cifar10("test", per_class=1)
    png, label = load_samples("cifar10")[0]
    assert label == 3 and labels[3] == 3
    diff = np.abs(np.asarray(png.convert("RGB"), dtype=np.float32) - images[3].astype(np.float32))
    assert diff.mean() < 12


def test_order_class_then_number():
    images, labels = load_cifar10("test", per_class=3)
    assert labels.tolist() == [c for c in range(10) for _ in range(3)]
    # ship 0000 and 0001 are CIFAR test images 1 and 2, both in the lossless samples
    pngs = load_samples("cifar10")
    for k, idx in enumerate((1, 2)):
        ref = np.asarray(pngs[idx][0].convert("RGB"), dtype=np.float32)
        assert np.abs(ref - images[8 * 3 + k]).mean() < 12


def test_bad_split():
    with pytest.raises(TinyTrainError, match="split"):
        load_cifar10("val")
