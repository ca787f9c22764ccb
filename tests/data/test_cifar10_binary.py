"""CIFAR-10's official binary version: the pixels and labels written come back, class by class in the
original (batch, record) order, `per_class` picks the same images as the JPEG form, the lookup takes
the form of the first datasets folder holding one, and damaged archives name file and member."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cifar10_forms import (BINARY, JPEG, TRAIN, interleave, pixels, real_jpegs, record, spread, write_binary,
                           write_jpeg)
from data_isolation import only_this_data
from hypothesis import HealthCheck, given, settings, strategies as st

from tvm_tinytrain.data.cifar10 import CIFAR10_CLASSES, cifar10_path, load_cifar10
from tvm_tinytrain.data.cifar10_binary import load_binary
from tvm_tinytrain.errors import TinyTrainError

K = 3  # images per class


@pytest.fixture(scope="module")
def jpegs():
    return real_jpegs(K)


@pytest.fixture(scope="module")
def images(jpegs):
    return [[pixels(data) for data in items] for items in jpegs]


def round_robin(n=K):
    return [c for _ in range(n) for c in range(10)]


def expected(images, per_class):
    return (np.stack([img for items in images for img in items[:per_class]]),
            [c for c in range(10) for _ in range(min(per_class, K))])


def test_test_split_returns_the_written_pixels(tmp_path, monkeypatch, images):
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    write_binary(tmp_path / BINARY, {"test_batch.bin": interleave(round_robin(), images),
                                     **{name: record(0, images[0][0]) for name in TRAIN}})
    for per_class in (None, 1, 2):
        x, y = load_cifar10("test", per_class=per_class)
        want_x, want_y = expected(images, per_class or K)
        assert x.dtype == np.uint8 and y.dtype == np.int64
        assert np.array_equal(x, want_x) and y.tolist() == want_y


def test_per_class_picks_the_same_images_as_the_jpeg_form(tmp_path, monkeypatch, jpegs, images):
    binary_root, jpeg_root = tmp_path / "binary", tmp_path / "jpeg"
    # each class spread over several batches, the batches stored out of order
    batches = spread(round_robin(), [7, 13, 20, 26], images)
    order = ["data_batch_3.bin", "data_batch_1.bin", "data_batch_5.bin", "data_batch_2.bin", "data_batch_4.bin"]
    write_binary(binary_root / BINARY, batches, order=order)
    write_jpeg(jpeg_root / JPEG, "train", jpegs)
    for per_class in (1, 2, None):
        only_this_data(monkeypatch, binary_root, tmp_path / "cache")
        from_binary = load_cifar10("train", per_class=per_class)
        only_this_data(monkeypatch, jpeg_root, tmp_path / "cache")
        from_jpeg = load_cifar10("train", per_class=per_class)
        assert np.array_equal(from_binary[0], from_jpeg[0]) and np.array_equal(from_binary[1], from_jpeg[1])
        assert np.array_equal(from_binary[0], expected(images, per_class or K)[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_order_and_selection_property(images, data):
    """Any interleaving of the classes over the 5 batches, any member order: per class, the earliest
    `per_class` records in (batch, record) order, i.e. images[c][:per_class]."""
    labels = data.draw(st.permutations(round_robin()))
    cuts = sorted(data.draw(st.lists(st.integers(1, len(labels) - 1), min_size=4, max_size=4, unique=True)))
    batches = spread(labels, cuts, images)
    order = data.draw(st.permutations(list(TRAIN)))
    per_class = data.draw(st.sampled_from([1, 2, 3, 5, None]))
    with tempfile.TemporaryDirectory() as folder:
        path = write_binary(Path(folder) / BINARY, batches, order=order)
        x, y = load_binary(path, "train", per_class, CIFAR10_CLASSES)
    want_x, want_y = expected(images, per_class or K)
    assert np.array_equal(x, want_x) and y.tolist() == want_y


def test_lookup_takes_the_first_root_holding_a_form(tmp_path, monkeypatch, jpegs, images):
    override, cache = tmp_path / "override", tmp_path / "cache"
    write_jpeg(cache / "data" / JPEG, "test", jpegs)
    write_binary(override / BINARY, {"test_batch.bin": interleave(round_robin(1), images),
                                     **{name: record(0, images[0][0]) for name in TRAIN}})
    only_this_data(monkeypatch, override, cache)
    assert cifar10_path() == override / BINARY
    assert len(load_cifar10("test")[1]) == 10  # the binary one holds 1 per class, the JPEG one 3
    write_jpeg(override / JPEG, "test", jpegs)  # within a root, the form listed first (the JPEG copy)
    assert cifar10_path() == override / JPEG and len(load_cifar10("test")[1]) == 30
    only_this_data(monkeypatch, None, cache)
    assert cifar10_path() == cache / "data" / JPEG


def _damaged(tmp_path, monkeypatch, batches, match, order=None, cut=None):
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    path = write_binary(tmp_path / BINARY, batches, order=order)
    if cut:
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * cut)])
    with pytest.raises(TinyTrainError, match=match) as err:
        load_cifar10("test")
    assert "\n" not in str(err.value) and "sha256sum -c SHA256SUMS" in str(err.value)


def test_damaged_archives_are_named(tmp_path, monkeypatch, images):
    good = interleave(round_robin(1), images)
    train = {name: good for name in TRAIN}
    file = f"{tmp_path / BINARY} is truncated or corrupt"
    _damaged(tmp_path, monkeypatch, {"test_batch.bin": good[:-5], **train},
             f"{file} .*test_batch.bin is 30,725 bytes, not a whole number .* of 3073-byte records")
    _damaged(tmp_path, monkeypatch, {"test_batch.bin": b"\x0a" + good[1:], **train},
             "record 0 of cifar-10-batches-bin/test_batch.bin has label 10, expected 0..9")
    _damaged(tmp_path, monkeypatch, train, "no member cifar-10-batches-bin/test_batch.bin")
    _damaged(tmp_path, monkeypatch, {"test_batch.bin": good, **train},
             f"{file} .*(end|EOF).*, in or after cifar-10-batches-bin/", cut=0.5)
    _damaged(tmp_path, monkeypatch, {"test_batch.bin": interleave([0, 1], images), **train},
             "no test images of bird, cat, deer, dog, frog, horse, ship, truck")
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    with pytest.raises(TinyTrainError, match="no member cifar-10-batches-bin/data_batch_4.bin"):
        write_binary(tmp_path / BINARY, {"test_batch.bin": good, **{n: good for n in TRAIN if "4" not in n}})
        load_cifar10("train")


def test_damaged_cache_entry_names_the_fetch(tmp_path, monkeypatch, images):
    only_this_data(monkeypatch, None, tmp_path / "cache")
    write_binary(tmp_path / "cache" / "data" / BINARY, {"test_batch.bin": b"\x00" * 3072})
    with pytest.raises(TinyTrainError, match=r"not a whole number .*; delete it and fetch it again "
                                             r"\(`tvm-tinytrain fetch cifar10`\)"):
        load_cifar10("test")
