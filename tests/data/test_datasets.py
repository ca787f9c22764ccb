"""load_dataset: spec grammar, the int8 input conventions, subsets, seeds, errors."""
import numpy as np
import pytest
from folder_helpers import make_folder

from tvm_tinytrain.data import datasets
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.datasets import IMAGE_Q, SOURCES, SPEECH_Q, Dataset, load_dataset
from tvm_tinytrain.data.fashion_mnist import load_fashion_mnist
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.errors import TinyTrainError


@pytest.mark.slow  # streams the whole 19 MB archive for the train split (~5 s)
def test_cifar10_matches_x_q_convention():
    d = load_dataset("cifar10", (3, 64, 64), train_per_class=2, test_per_class=1, progress=False)
    assert isinstance(d, Dataset) and d.input_q == IMAGE_Q and d.classes[0] == "airplane"
    assert d.train_x.shape == (20, 3, 64, 64) and d.train_x.dtype == np.int8 and d.train_y.dtype == np.int64
    assert d.test_x.shape == (10, 3, 64, 64) and sorted(d.test_y.tolist()) == list(range(10))
    images, labels = load_cifar10("test", per_class=1)
    for x, y in zip(d.test_x, d.test_y):
        assert np.array_equal(x, to_int8_input(resize_to(images[y], 64)))
    assert np.allclose(d.to_float(d.test_x), (d.test_x.astype(np.float32)) / 127.5)


def test_seed_shuffles_and_subsets_deterministically():
    a = load_dataset("mnist", (1, 28, 28), train_per_class=5, test_per_class=3, seed=0, progress=False)
    b = load_dataset("mnist", (1, 28, 28), train_per_class=5, test_per_class=3, seed=0, progress=False)
    c = load_dataset("mnist", (1, 28, 28), train_per_class=5, test_per_class=3, seed=1, progress=False)
    assert np.array_equal(a.train_x, b.train_x) and np.array_equal(a.train_y, b.train_y)
    assert not np.array_equal(a.train_x, c.train_x)
    assert np.bincount(a.train_y).tolist() == [5] * 10 and a.train_y[:10].tolist() != sorted(a.train_y[:10])
    assert a.train_x.shape == (50, 1, 28, 28) and a.train_x.min() == -128  # black background


def test_gray_to_rgb_and_classes_option():
    d = load_dataset("fashion-mnist:classes=Bag,0", (3, 32, 32), train_per_class=4, test_per_class=2,
                     progress=False)
    assert d.classes == ("Bag", "T-shirt/top") and d.train_x.shape == (8, 3, 32, 32)
    assert np.array_equal(d.train_x[:, 0], d.train_x[:, 2])
    assert sorted(d.test_y.tolist()) == [0, 0, 1, 1] and d.input_q == IMAGE_Q
    # every test image is some Bag / T-shirt of the test split, resized, in the x_q convention
    images, labels = load_fashion_mnist("test")
    for x, y in zip(d.test_x, d.test_y):
        candidates = images[labels == (8, 0)[y]]
        assert any(np.array_equal(x, to_int8_input(resize_to(img, 32))) for img in candidates[:1000])


def test_speech_features():
    d = load_dataset("speech-commands:classes=yes,no", (1, 49, 40), train_per_class=3, test_per_class=2,
                     progress=False)
    assert d.classes == ("yes", "no") and d.input_q == SPEECH_Q
    assert d.train_x.shape == (6, 1, 49, 40) and d.train_x.dtype == np.int8
    assert d.test_x.shape == (4, 1, 49, 40) and sorted(d.test_y.tolist()) == [0, 0, 1, 1]
    f = d.to_float(d.train_x)
    assert -14.1 < f.min() and f.max() < 11.6 and f.std() > 1.0
    assert load_dataset("speech-commands:classes=yes,no", (1, 49, 16), train_per_class=1, test_per_class=1,
                        progress=False).train_x.shape == (2, 1, 49, 16)
    with pytest.raises(TinyTrainError, match=r"\(1, 49, 40\)"):
        load_dataset("speech-commands", (1, 50, 40))


def test_image_folder_spec(tmp_path):
    root = make_folder(tmp_path / "shapes", {"b": 5, "a": 5}, size=(60, 40))
    bw = load_dataset(str(root), (1, 16, 16), progress=False)
    assert bw.classes == ("a", "b") and bw.train_x.shape == (8, 1, 16, 16) and bw.test_x.shape == (2, 1, 16, 16)
    # class "b" (index 1) was drawn with gray level 40: x_q = round(40 - 127.5) = -88 everywhere
    assert (bw.train_x[bw.train_y == 1] == -88).all() and (bw.train_x[bw.train_y == 0] == -48).all()
    (root / "a" / "zzz.png").write_bytes(b"garbage")
    with pytest.raises(TinyTrainError, match="zzz.png"):
        load_dataset(str(root), (3, 16, 16), progress=False)


def test_errors():
    with pytest.raises(TinyTrainError) as e:
        load_dataset("svhn", (3, 32, 32))
    assert all(s in str(e.value) for s in SOURCES) and "image folder" in str(e.value)
    with pytest.raises(TinyTrainError, match="bad option"):
        load_dataset("cifar10:labels=1,2", (3, 32, 32))
    with pytest.raises(TinyTrainError, match="no class 'horse'"):
        load_dataset("mnist:classes=1,horse", (1, 28, 28))
    with pytest.raises(TinyTrainError, match="square"):
        load_dataset("mnist", (3, 28, 32))
    with pytest.raises(TinyTrainError, match="train_per_class"):
        load_dataset("mnist", (1, 28, 28), train_per_class=0)


def test_size_guard(monkeypatch):
    monkeypatch.setattr(datasets, "MAX_BYTES", 1000)
    with pytest.raises(TinyTrainError, match="train_per_class"):
        load_dataset("mnist", (1, 28, 28), progress=False)
