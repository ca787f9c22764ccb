"""A user's own images: `root/<class>/*.jpg|jpeg|png`, classes sorted by folder name.

If `root` holds `train/` and `test/` folders (each `<class>/...` with the same classes)
they are the split; otherwise every class is permuted with SPLIT_SEED and its first
TEST_FRACTION (at least one image) goes to test, so the split never depends on a
training seed.  Files are only listed here; `open_image` decodes one and names the file
if it cannot.  An entry with an image extension that is not a readable regular file (a
dangling link, a folder, a pipe) is an error, not skipped: it was meant as data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import TinyTrainError
from .images import to_8bit

EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise TinyTrainError(f"image folder: cannot list {folder}: {e.strerror or e}; make it readable") from None


def _classes(folder: Path) -> list[str]:
    return [p.name for p in _entries(folder) if p.is_dir() and not p.name.startswith(".")]


def _files(folder: Path) -> list[Path]:
    images = [p for p in _entries(folder) if p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")]
    for p in images:
        if not p.is_file():
            what = "a dangling link" if p.is_symlink() and not p.exists() else "not a regular file"
            raise TinyTrainError(f"image folder: {p} is {what}; remove it or replace it with an image")
    return images


def list_image_folder(root, test_fraction: float = TEST_FRACTION):
    """(classes, {"train": [(path, label)], "test": [(path, label)]}), files sorted by name per class."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TinyTrainError(f"image folder: {root} is not a folder; expected root/<class>/*.jpg|png")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _classes(root / "train")
        if _classes(root / "test") != classes:
            raise TinyTrainError(f"image folder: {root}/train and {root}/test have different class folders "
                                 f"({classes} vs {_classes(root / 'test')}); give both the same classes")
        split = {s: [(p, i) for i, c in enumerate(classes) for p in _files(root / s / c)] for s in ("train", "test")}
        _check(root, classes, split)
        return tuple(classes), split
    classes = _classes(root)
    rng = np.random.default_rng(SPLIT_SEED)
    split = {"train": [], "test": []}
    for i, c in enumerate(classes):
        files = _files(root / c)
        if len(files) < 2:
            raise TinyTrainError(f"image folder: class folder {root / c} has {len(files)} images "
                                 f"({', '.join(EXTENSIONS)}); each class needs at least 2 (one for training, "
                                 f"one for testing)")
        order = rng.permutation(len(files))
        n_test = max(1, int(round(test_fraction * len(files))))
        split["test"] += [(files[j], i) for j in sorted(order[:n_test])]
        split["train"] += [(files[j], i) for j in sorted(order[n_test:])]
    _check(root, classes, split)
    return tuple(classes), split


def _check(root, classes, split):
    if len(classes) < 2:
        raise TinyTrainError(f"image folder: {root} has {len(classes)} class folder(s) {classes}; "
                             f"put the images of each class in its own sub-folder (at least 2 classes)")
    for name, items in split.items():
        missing = sorted(set(range(len(classes))) - {label for _, label in items})
        if missing:
            raise TinyTrainError(f"image folder: no {name} images ({', '.join(EXTENSIONS)}) for class(es) "
                                 f"{[classes[i] for i in missing]} under {root}")


def open_image(path) -> Image.Image:
    """The decoded image in 8-bit "L" or "RGB" (images.to_8bit); TinyTrainError naming the file if it
    is unreadable, truncated, empty, or in a pixel mode with no 8-bit meaning."""
    try:
        img = Image.open(path)
        img.load()  # PIL refuses a 0-pixel image here (it cannot identify it)
    except Exception as e:  # PIL raises many types: OSError, SyntaxError, struct.error, DecompressionBombError
        raise TinyTrainError(f"image folder: cannot read image {path}: {e}; remove or replace the file") from None
    return to_8bit(img, f"image folder: {path}")
