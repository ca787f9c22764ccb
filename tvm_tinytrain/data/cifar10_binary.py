"""CIFAR-10's official binary distribution (`cifar-10-binary.tar.gz`, what `tvm-tinytrain fetch` stores).

The archive holds `cifar-10-batches-bin/data_batch_1.bin` .. `data_batch_5.bin` (train) and
`test_batch.bin` (test); each record is 1 label byte (0..9) then 3072 bytes: 1024 R, 1024 G,
1024 B, each 32x32 row-major.  The members come in no particular order and a .tar.gz is not
seekable, so it is streamed once and, per class, only the `per_class` records earliest in the
original order (batch number, then record) are kept.  That is the order of the JPEG copy's file
numbers, so both forms select the same images.  Only raw bytes are read: the *python* version
(`cifar-10-python.tar.gz`, pickles) is never looked for, so it is never unpickled.
"""
import heapq
import tarfile
import zlib

import numpy as np

from ..paths import damaged

RECORD = 1 + 3 * 32 * 32
MAX_RECORDS = 10_000  # per batch file, as published
BATCHES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
PREFIX = "cifar-10-batches-bin/"
FILE_NAME = "cifar-10-binary.tar.gz"


def load_binary(path, split: str, per_class: int | None, classes: tuple):
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)), class by class, each in the original order."""
    wanted = {PREFIX + name: k for k, name in enumerate(BATCHES[split])}
    kept = [[] for _ in classes]  # per class: heap of (-batch, -record, pixels), the earliest kept
    seen, reading = set(), "the first member"
    try:
        with tarfile.open(path, "r|gz") as tf:
            for member in tf:
                reading = member.name
                if member.name not in wanted or not member.isfile():
                    continue
                if member.name in seen:
                    raise damaged("load_cifar10", path, f"{member.name} appears twice")
                seen.add(member.name)
                records = _records(tf, member, path)
                _keep(records, wanted[member.name], per_class, kept, path, member.name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise damaged("load_cifar10", path, f"{e}, in or after {reading}") from None
    missing = [name for name in wanted if name not in seen]
    if missing:
        raise damaged("load_cifar10", path, f"no member {', '.join(missing)}; the binary version holds "
                                            f"{PREFIX}data_batch_1..5.bin and test_batch.bin")
    empty = [name for name, heap in zip(classes, kept) if not heap]
    if empty:
        raise damaged("load_cifar10", path, f"no {split} images of {', '.join(empty)}")
    images, labels = [], []
    for label, heap in enumerate(kept):
        for *_, pixels in sorted(heap, key=lambda item: (-item[0], -item[1])):
            images.append(pixels.reshape(3, 32, 32).transpose(1, 2, 0))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _records(tf, member, path) -> np.ndarray:
    """The member's records as (n, 3073) uint8, its size checked before anything is read."""
    if member.size == 0 or member.size % RECORD or member.size > MAX_RECORDS * RECORD:
        raise damaged("load_cifar10", path, f"{member.name} is {member.size:,} bytes, not a whole number (1.."
                                            f"{MAX_RECORDS:,}) of {RECORD}-byte records")
    data = tf.extractfile(member).read()
    if len(data) != member.size:
        raise damaged("load_cifar10", path, f"{member.name} ends after {len(data):,} of {member.size:,} bytes")
    return np.frombuffer(data, np.uint8).reshape(-1, RECORD)


def _keep(records, batch, per_class, kept, path, name):
    """Add the batch's earliest records of each class to `kept`, trimmed to `per_class`."""
    labels = records[:, 0]
    bad = np.flatnonzero(labels >= len(kept))
    if bad.size:
        raise damaged("load_cifar10", path, f"record {bad[0]} of {name} has label {labels[bad[0]]}, "
                                            f"expected 0..{len(kept) - 1}")
    for label, heap in enumerate(kept):
        for i in np.flatnonzero(labels == label)[:per_class]:
            item = (-batch, -int(i), records[i, 1:].copy())
            if per_class is not None and len(heap) >= per_class:
                if item[:2] > heap[0][:2]:  # earlier than the latest kept
                    heapq.heapreplace(heap, item)
            else:
                heapq.heappush(heap, item)
