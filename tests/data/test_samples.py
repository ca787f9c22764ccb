"""foolbox samples read from the tar without extraction."""
import pytest

from tvm_tinytrain.data.images import center_crop_resize
from tvm_tinytrain.data.samples import KINDS, load_samples
from tvm_tinytrain.errors import TinyTrainError


def test_imagenet_samples():
    samples = load_samples("imagenet")
    assert len(samples) == 20
    for img, label in samples:
        # the shared README says 224x224; the files are 512x512 (one is 1024x683)
        assert img.mode == "RGB" and min(img.size) >= 128
        assert isinstance(label, int) and 0 <= label < 1000
        assert center_crop_resize(img).shape == (128, 128, 3)
    assert [label for _, label in samples[:3]] == [243, 559, 438]


@pytest.mark.parametrize("kind,size,classes", [("cifar10", (32, 32), 10), ("cifar100", (32, 32), 100),
                                               ("mnist", (28, 28), 10), ("fashionMNIST", (28, 28), 10)])
def test_small_sets(kind, size, classes):
    samples = load_samples(kind)
    assert len(samples) == 20
    assert all(img.size == size and 0 <= label < classes for img, label in samples)


def test_order_and_labels():
    # CIFAR-10 test images 0..3 are cat, ship, ship, airplane; MNIST test 0..2 are 7, 2, 1
    assert [label for _, label in load_samples("cifar10")[:4]] == [3, 8, 8, 0]
    assert [label for _, label in load_samples("mnist")[:3]] == [7, 2, 1]


def test_unknown_kind():
    with pytest.raises(TinyTrainError) as e:
        load_samples("svhn")
    assert all(k in str(e.value) for k in KINDS)
