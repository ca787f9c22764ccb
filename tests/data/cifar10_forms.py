"""Small CIFAR-10 archives in both forms, built from real images of the JPEG copy in ../shared."""
import gzip
import io
import tarfile

import numpy as np
from PIL import Image

from tvm_tinytrain.data.cifar10 import CIFAR10_CLASSES
from tvm_tinytrain.data.cifar10_binary import PREFIX
from tvm_tinytrain.paths import data_root

JPEG = "cifar10/cifar10_jpeg.tar.gz"
BINARY = "cifar10/cifar-10-binary.tar.gz"
TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))


def real_jpegs(per_class: int) -> list[list[bytes]]:
    """Per class, the first `per_class` test JPEGs (file-number order) of the real archive."""
    found = [[] for _ in CIFAR10_CLASSES]
    with tarfile.open(data_root() / JPEG, "r|gz") as tf:
        for member in tf:
            if member.name.startswith("cifar10_jpeg/train/"):
                break
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[2] in CIFAR10_CLASSES:
                found[CIFAR10_CLASSES.index(parts[2])].append((parts[3], tf.extractfile(member).read()))
    return [[data for _, data in sorted(items)[:per_class]] for items in found]


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.uint8)


def record(label: int, image: np.ndarray) -> bytes:
    """One binary record: the label byte, then the R, G and B planes."""
    return bytes([label]) + image.transpose(2, 0, 1).tobytes()


def tar_gz(path, members: list[tuple[str, bytes]]):
    """A .tar.gz of (name, bytes) in the given order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path


def write_binary(path, batches: dict[str, bytes], order=None):
    """cifar-10-binary.tar.gz holding `batches` ({file name: records}) in `order`, and the meta files."""
    names = order or list(batches)
    members = [(PREFIX + name, batches[name]) for name in names]
    members.insert(1, (PREFIX + "batches.meta.txt", "\n".join(CIFAR10_CLASSES).encode()))
    members.append((PREFIX + "readme.html", b"<html></html>"))
    return tar_gz(path, members)


def write_jpeg(path, split: str, jpegs: list[list[bytes]]):
    """cifar10_jpeg.tar.gz with `jpegs[c][i]` as cifar10_jpeg/<split>/<class c>/<i>.jpg."""
    return tar_gz(path, [(f"cifar10_jpeg/{split}/{CIFAR10_CLASSES[c]}/{i:04d}.jpg", data)
                         for c, items in enumerate(jpegs) for i, data in enumerate(items)])


def interleave(labels_in_order: list[int], images: list[list[np.ndarray]]) -> bytes:
    """Records for the label sequence, the k-th record of class c holding images[c][k]."""
    taken = [0] * len(images)
    out = []
    for label in labels_in_order:
        out.append(record(label, images[label][taken[label]]))
        taken[label] += 1
    return b"".join(out)


def spread(labels: list[int], cuts: list[int], images: list[list[np.ndarray]]) -> dict[str, bytes]:
    """The 5 train batches: the label sequence cut at `cuts` (4 positions), its k-th record of class c
    holding images[c][k]."""
    bounds, taken, batches = [0, *cuts, len(labels)], [0] * len(images), {}
    for name, lo, hi in zip(TRAIN, bounds, bounds[1:]):
        batches[name] = interleave(labels[lo:hi], [items[taken[c]:] for c, items in enumerate(images)])
        for c in labels[lo:hi]:
            taken[c] += 1
    return batches
