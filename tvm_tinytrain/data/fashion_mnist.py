"""Fashion-MNIST from the staged IDX files (`fashion-mnist/*-ubyte.gz`).

IDX is a big-endian header (magic 0x00000803 for uint8 images N x 28 x 28, 0x00000801 for
uint8 labels N) followed by the raw bytes; the header is parsed here with numpy so a
truncated or mislabelled file is reported by name instead of yielding garbage.
"""
from __future__ import annotations

import gzip
import zlib

import numpy as np

from ..errors import TinyTrainError
from ..paths import damaged, find_data

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}
_UINT8_MAGIC = 0x0800  # third byte 0x08 = unsigned byte; fourth byte = number of dimensions


def read_idx(path, ndim: int) -> np.ndarray:
    """The uint8 array of a gzipped IDX file whose magic says `ndim` dimensions."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise damaged("read_idx", path, f"{e}; expected a gzipped IDX file") from None
    if len(raw) < 4 + 4 * ndim:
        raise damaged("read_idx", path, f"{len(raw)} bytes, too short for an IDX header")
    magic = int(np.frombuffer(raw, ">u4", 1)[0])
    if magic != _UINT8_MAGIC + ndim:
        raise TinyTrainError(f"read_idx: {path} has magic {magic:#010x}, expected {_UINT8_MAGIC + ndim:#010x} "
                             f"(uint8, {ndim} dimensions); is it the right file?")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise damaged("read_idx", path, f"it declares shape {dims} ({int(np.prod(dims))} bytes) but holds "
                                        f"{body.size} bytes")
    return body.reshape(dims)


def load_fashion_mnist(split: str = "test"):
    """(images uint8 (N, 28, 28), labels int64 (N,)) in file order."""
    if split not in SPLITS:
        raise TinyTrainError(f"load_fashion_mnist: split must be one of {SPLITS}, got {split!r}")
    images_path = find_data("fashion-mnist", f"fashion-mnist/{_PREFIX[split]}-images-idx3-ubyte.gz")
    labels_path = find_data("fashion-mnist", f"fashion-mnist/{_PREFIX[split]}-labels-idx1-ubyte.gz")
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels) or labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise damaged("load_fashion_mnist", labels_path, f"{len(labels)} labels (max {labels.max(initial=0)}) "
                                                         f"for the {len(images)} images of {images_path.name}")
    return images, labels.astype(np.int64)
