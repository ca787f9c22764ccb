"""CIFAR-10 from either of its forms in the datasets folders, read without unpacking.

`cifar10/cifar10_jpeg.tar.gz` (the copy in ../shared) holds `cifar10_jpeg/{train,test}/<class>/NNNN.jpg`
(lossy, JPEG q~75); `cifar10/cifar-10-binary.tar.gz` is the official binary version that `fetch` stores
(read by `cifar10_binary.py`).  Both give the same images in the same order: class index, then the
original batch order (the JPEG file numbers follow it), so `per_class` selects the same images from
either.  A .tar.gz is not seekable, so the archive is streamed once; only the selected files are decoded.
"""
import heapq
import io
import re
import tarfile
import zlib

import numpy as np
from PIL import Image

from ..errors import TinyTrainError
from ..paths import FORMS, damaged, find_data
from .cifar10_binary import FILE_NAME as BINARY_NAME, load_binary
from .images import to_8bit

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
_NAME = re.compile(r"^cifar10_jpeg/(?P<split>train|test)/(?P<cls>[a-z]+)/(?P<num>\d+)\.jpg$")


def cifar10_path():
    """The first form found (paths.FORMS order) in the first datasets folder holding one."""
    return find_data("cifar10", *FORMS["cifar10"])


def load_cifar10(split: str = "test", per_class: int | None = None):
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)); `per_class` keeps the first n files per class."""
    if split not in SPLITS:
        raise TinyTrainError(f"load_cifar10: split must be one of {SPLITS}, got {split!r}")
    if per_class is not None and per_class < 1:
        raise TinyTrainError(f"load_cifar10: per_class must be a positive int or None, got {per_class!r}")
    path = cifar10_path()
    if path.name == BINARY_NAME:
        return load_binary(path, split, per_class, CIFAR10_CLASSES)
    prefix = f"cifar10_jpeg/{split}/"
    label_of = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    # per class: heap of (-num, name, bytes) holding the `per_class` smallest file numbers
    kept = [[] for _ in CIFAR10_CLASSES]
    try:
        _stream(path, prefix, split, per_class, label_of, kept)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise damaged("load_cifar10", path, e) from None
    missing = [c for c, heap in zip(CIFAR10_CLASSES, kept) if not heap]
    if missing:
        raise damaged("load_cifar10", path, f"no {split} images of {', '.join(missing)}; expected "
                                            f"{prefix}<class>/NNNN.jpg for every class")
    images, labels = [], []
    for label, heap in enumerate(kept):
        for _, name, data in sorted(heap, reverse=True):
            images.append(_decode(data, name, path))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _stream(path, prefix, split, per_class, label_of, kept):
    """Fill `kept` (per class: heap of (-num, name, bytes), the `per_class` smallest numbers) from the archive."""
    last, in_order = "", True
    with tarfile.open(path, "r|gz") as tf:
        for member in tf:
            name = member.name
            in_order, last = in_order and name >= last, name
            if in_order and name > prefix and not name.startswith(prefix):
                break  # archive is sorted (git archive): nothing of this split follows
            m = _NAME.match(name)
            if not (m and m["split"] == split and member.isfile()) or m["cls"] not in label_of:
                continue
            heap, num = kept[label_of[m["cls"]]], int(m["num"])
            if per_class is not None and len(heap) >= per_class and -heap[0][0] < num:
                continue
            item = (-num, name, tf.extractfile(member).read())
            if per_class is not None and len(heap) >= per_class:
                heapq.heapreplace(heap, item)
            else:
                heapq.heappush(heap, item)


def _decode(data, name, path):
    try:
        img = np.asarray(to_8bit(Image.open(io.BytesIO(data)), f"{name} in {path}").convert("RGB"), dtype=np.uint8)
    except TinyTrainError:
        raise
    except Exception as e:
        raise damaged("load_cifar10", path, f"cannot decode {name}: {e}") from None
    if img.shape != (32, 32, 3):
        raise TinyTrainError(f"load_cifar10: {name} in {path} is {img.shape}, expected (32, 32, 3)")
    return img
