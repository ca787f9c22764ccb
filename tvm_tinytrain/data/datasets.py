"""`load_dataset(spec, input_shape)`: the one way from a `--data SPEC` string to the int8
train/test tensors an int8 model consumes, so the CLI, benchmarks and tests agree on
preprocessing, quantization, class selection and shuffling.

SPEC grammar::

    SPEC    := SOURCE [":" OPTION]*
    SOURCE  := NAME | KIND ":" PATH | PATH
    NAME    := "cifar10" | "fashion-mnist" | "mnist" | "speech-commands"     (the shared datasets)
    KIND    := "folder" | "npz"             (PATH_KINDS; a bare PATH is a folder, or npz if a .npz file)
    OPTION  := "classes=" CLASS ("," CLASS)*      names or indices, relabelled 0.. in that order
             | "targets=inputs"                    float targets for the MSE loss: each input itself
                                                   (an autoencoder; one class may then be kept)

    e.g. cifar10   cifar10:classes=0,1,2   speech-commands:classes=on,off,stop,go   ~/my_photos
         npz:imu.npz:classes=walk,run   npz:frames.npz:targets=inputs

A folder PATH is an image folder `root/<class>/*.jpg|png` (see image_folder.py for its split);
an npz PATH holds the user's own float arrays x, y [, x_test, y_test, classes] of any sample
shape, or x [, y] with float targets t [, x_test, t_test] for the MSE loss (npz_arrays.py: its
checks, split and the input quantization derived from it).  `Dataset.targets` says what a sample
is trained towards: None (the class label), "t" (the file's targets) or "inputs".  A
PATH may itself hold ':': the longest prefix of the text after KIND that names an existing
path is the PATH, the rest are options (`my:photos:classes=a,b` is the folder `my:photos`
if it exists).  A NAME wins over a folder of that name; write `./mnist` or `folder:mnist`.
A new kind of source is one entry of `LOADERS`, plus its name in SOURCES (a NAME) or
PATH_KINDS (a KIND taking a PATH), and in CLASSES if its classes are known without reading it.
MNIST, Speech Commands and image folders without train/ and test/ are split once by a
fixed seed in their loaders; `seed` here only picks the per-class subsets and the order.

The int8 input of the model (`Dataset.input_q`: real = scale * (q - zero)):

* images: `x_q = round(pixel - 127.5)`, i.e. scale 1/127.5, zero 0 (the paper's backbones).
  28/32-pixel sets are resized (bilinear) to H x W; folder images have their shorter side
  resized to H * 146/128 and are centre-cropped (ImageNet style).  Grayscale is repeated to
  3 channels for an RGB model; a 1-channel model gets the luminance.  Every decoded image is
  first 8-bit L or RGB (images.to_8bit: 16-bit scaled by its range, palettes applied, alpha dropped).
  The model may be non-square: images are resized (CIFAR, MNIST) or resized to cover and
  centre-cropped (folders) to H x W.
* speech: log-mel features (logmel.py) shaped (1, frames, mels) = input_shape, so H is time
  and must be 49 frames (1 s, 30 ms windows, 20 ms hop) and W is the number of mel bands (any);
  quantized with the fixed scale 0.1, zero 12 (logmel.FEATURE_SCALE / FEATURE_ZERO).
* npz: the file's float x as given ((N, C, L) feeds a (C, 1, L) model), quantized per tensor
  over the training x's [min, 0 .. max] (npz_arrays.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import ShapeError, TinyTrainError
from ..graph import QParams
from . import logmel
from .cifar10 import CIFAR10_CLASSES, load_cifar10
from .fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from .image_folder import list_image_folder, open_image
from .images import center_crop_resize, resize_to, to_8bit, to_int8_input
from .mnist import MNIST_CLASSES, load_mnist
from .npz_arrays import UNLABELLED, quantize as quantize_arrays, read_npz
from .speech_commands import CLASSES as SPEECH_CLASSES, CLIP_SAMPLES, load_speech_commands

SOURCES = ("cifar10", "fashion-mnist", "mnist", "speech-commands")
CLASSES = {"cifar10": CIFAR10_CLASSES, "fashion-mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES,
           "speech-commands": SPEECH_CLASSES}
PATH_KINDS = ("folder", "npz")
OPTIONS = ("classes", "targets")
TARGETS = ("inputs",)  # the values of targets=
IMAGE_Q = QParams(1 / 127.5, 0)
SPEECH_Q = QParams(logmel.FEATURE_SCALE, logmel.FEATURE_ZERO)
MAX_BYTES = 4 << 30  # refuse to build int8 arrays larger than this; ask for a per-class subset.  The whole
                     # CIFAR-10 training split at the paper's 128x128 (50,000 x 3 x 128 x 128) is 2.3 GiB


@dataclass
class Dataset:
    """int8 inputs (N, C, H, W) in `input_q`, int64 labels indexing `classes`; with float targets
    (the MSE loss) `targets` is "t" (train_t / test_t: float32 (N, K)) or "inputs"."""

    name: str
    classes: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    input_q: QParams
    targets: str | None = None
    train_t: np.ndarray | None = None
    test_t: np.ndarray | None = None

    def to_float(self, x: np.ndarray) -> np.ndarray:
        """The real values the int8 codes stand for: what an fp32 model of the same input sees."""
        return ((x.astype(np.float32) - self.input_q.zero) * np.float32(self.input_q.scale)).astype(np.float32)

    def target(self, split: str, i: int) -> np.ndarray:
        """The float32 MSE target (K,) of sample `i` of `split` ("train" / "test"): the file's t, or
        with targets=inputs the real values of the int8 input (what the model sees, not the raw file)."""
        if self.targets == "inputs":
            return self.to_float(getattr(self, f"{split}_x")[i]).reshape(-1)
        return getattr(self, f"{split}_t")[i]


def check_loss(data: Dataset, loss: str, outputs: int):
    """`data` fits a model of `outputs` outputs trained with `loss` (labels for cross-entropy, float
    targets of the output's size for MSE): the one place that pairs a dataset with a loss."""
    if loss == "mse" and data.targets is None:
        raise TinyTrainError(f"--loss mse: {data.name} has class labels, not float targets; give an npz with "
                             f"targets t (N, {outputs}), or add :targets=inputs to the spec for an autoencoder")
    if loss != "mse" and data.targets is not None:
        raise TinyTrainError(f"{data.name} holds float targets ({'t' if data.targets == 't' else 'targets=inputs'}), "
                             f"not class labels; train it with --loss mse (or drop the targets for a classifier)")
    if loss == "mse":
        size = int(np.prod(data.train_x.shape[1:])) if data.targets == "inputs" else int(data.train_t.shape[1])
        if size != outputs:
            what = "targets=inputs: each input" if data.targets == "inputs" else "t"
            raise ShapeError(f"{data.name}: {what} holds {size} values per sample, the model has {outputs} outputs; "
                             f"the MSE target is shaped like the output: "
                             + ("an autoencoder's output is its flattened input" if data.targets == "inputs"
                                else f"write t as (N, {outputs})"))


@dataclass(frozen=True)
class DataSpec:
    """A parsed `--data SPEC`: `kind` is a NAME of SOURCES or a KIND of PATH_KINDS (then `path` is set)."""

    kind: str
    path: Path | None = None
    classes: tuple[str, ...] | None = None
    targets: str | None = None  # "inputs" (targets=inputs), or None

    @property
    def source(self) -> str:
        """What messages call the source: the NAME, or the path."""
        return self.kind if self.path is None else str(self.path)


def load_dataset(spec: str, input_shape: tuple, *, train_per_class: int | None = None,
                 test_per_class: int | None = None, seed: int = 0, progress: bool = True) -> Dataset:
    """Train and test sets of `spec` (grammar in the module docstring) for a model of input (C, H, W)."""
    parsed = parse_spec(spec)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ShapeError(f"load_dataset: input_shape must be (C, H, W), got {tuple(input_shape)}")
    check_per_class(train_per_class, test_per_class)
    out = LOADERS[parsed.kind](parsed, shape, (train_per_class, test_per_class), seed, progress)
    if parsed.targets == "inputs":
        return Dataset(spec, *out[:7], targets="inputs")
    return Dataset(spec, *out)


def check_per_class(train_per_class, test_per_class):
    for name, n in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            flag = "--" + name.replace("_", "-")
            raise TinyTrainError(f"load_dataset: {name} ({flag}) must be a positive number of samples per "
                                 f"class, got {n!r}; leave it out to use all of them")


def parse_spec(spec: str) -> DataSpec:
    """The source and options of `spec`, checked without reading any data (so callers can refuse early)."""
    if not isinstance(spec, str) or not spec.strip():
        raise TinyTrainError(f"load_dataset: empty dataset spec; {_choices()}")
    head, _, rest = spec.strip().partition(":")
    if head in SOURCES:
        return DataSpec(head, None, *_options(rest.split(":") if rest else [], spec))
    kind, text = (head, rest) if head in PATH_KINDS else ("folder", spec.strip())
    parts = text.split(":")
    for k in range(len(parts), 0, -1):
        candidate = ":".join(parts[:k])
        if candidate and Path(candidate).expanduser().exists():
            path = Path(candidate).expanduser()
            if kind == "folder" and head not in PATH_KINDS and path.suffix == ".npz" and path.is_file():
                kind = "npz"
            if kind == "folder" and not path.is_dir():
                raise TinyTrainError(f"load_dataset: {candidate} is a file; an image folder is a folder "
                                     f"root/<class>/*.jpg|png, and arrays are npz:FILE.npz ({_choices()})")
            if kind == "npz" and path.is_dir():
                raise TinyTrainError(f"load_dataset: {candidate} is a folder; npz:PATH is an .npz file of arrays "
                                     f"x, y (an image folder is folder:PATH)")
            return DataSpec(kind, path, *_options(parts[k:], spec))
    if not parts[0]:
        raise TinyTrainError(f"load_dataset: {spec!r} has an empty source (an empty path is not the current "
                             f"folder: write ./ for that); {_choices()}")
    raise TinyTrainError(f"load_dataset: unknown dataset {parts[0]!r} in {spec!r}: no such dataset, file or folder; "
                         f"{_choices()}")


def check_spec(spec: str) -> DataSpec:
    """parse_spec, and the classes= of `spec` against the source's classes (a folder is listed, not
    read): what a command that reads the data later (analyze's workers) can refuse at once."""
    parsed = parse_spec(spec)
    if parsed.kind == "folder":
        _select_classes(list(list_image_folder(parsed.path)[0]), parsed.classes, parsed.source, parsed.targets)
    elif parsed.kind in CLASSES:
        _select_classes(list(CLASSES[parsed.kind]), parsed.classes, parsed.source, parsed.targets)
    return parsed  # any other kind's loader checks its classes when it reads them


def _options(options: list[str], spec: str) -> tuple:
    """(classes or None, targets or None) of the spec's options."""
    classes = targets = None
    for option in options:
        key, eq, value = option.partition("=")
        if key.strip() not in OPTIONS or not eq or not value.strip():
            raise TinyTrainError(f"load_dataset: bad option {option!r} in {spec!r}; options are "
                                 f"classes=A,B,... (class names or indices), e.g. cifar10:classes=0,1,2, and "
                                 f"targets=inputs (an autoencoder's MSE targets)")
        if key.strip() == "targets":
            if value.strip() not in TARGETS or targets is not None:
                raise TinyTrainError(f"load_dataset: {option!r} in {spec!r}: the one targets= option is "
                                     f"targets=inputs, given once (float targets of your own are an npz's t array)")
            targets = value.strip()
            continue
        if classes is not None:
            raise TinyTrainError(f"load_dataset: classes= is given twice in {spec!r}; list every class once")
        classes = tuple(c.strip() for c in value.split(","))
        if "" in classes:
            raise TinyTrainError(f"load_dataset: empty class name in {option!r} of {spec!r}; separate class "
                                 f"names or indices by single commas")
    return classes, targets


def _choices():
    return (f"use one of {', '.join(SOURCES)}, the path of an image folder (root/<class>/*.jpg|png; "
            f"a folder whose name holds ':' is found if it exists), or npz:FILE.npz (your own arrays x, y)")


def _select_classes(all_classes, wanted, source, targets=None):
    """(kept class names, old label -> new label or -1); with float targets one class may be kept."""
    remap = np.full(len(all_classes), -1, np.int64)
    if wanted is None:
        remap[:] = np.arange(len(all_classes))
        return tuple(all_classes), remap
    kept = []
    for c in wanted:
        if c in all_classes:
            index = all_classes.index(c)
        elif c.isdigit() and int(c) < len(all_classes):
            index = int(c)
        else:
            raise TinyTrainError(f"load_dataset: {source} has no class {c!r}; its classes are "
                                 f"{', '.join(all_classes)} (or indices 0..{len(all_classes) - 1})")
        if remap[index] >= 0:
            raise TinyTrainError(f"load_dataset: class {all_classes[index]!r} of {source} is listed twice in "
                                 f"classes= (as {c!r} too); list every class once")
        remap[index] = len(kept)
        kept.append(all_classes[index])
    if len(kept) < (1 if targets else 2):
        raise TinyTrainError(f"load_dataset: classes= keeps {len(kept)} class; a classifier needs at least 2")
    return tuple(kept), remap


def _choose(labels: np.ndarray, per_class, rng) -> np.ndarray:
    """Indices of up to `per_class` items of every class (seeded choice), in seeded random order."""
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels[labels >= 0])]
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return keep[rng.permutation(len(keep))]


def _subset(labels, remap, per_class, seed, shape, source, split):
    """(indices of the seeded per-class subset, every label relabelled to the kept classes)."""
    labels = remap[labels]
    idx = _choose(labels, per_class, np.random.default_rng(seed))
    _check_size(len(idx), shape, source, split)
    return idx, labels


def _check_size(n, shape, source, split):
    if n * int(np.prod(shape)) > MAX_BYTES:
        raise TinyTrainError(f"load_dataset: {n} {source} {split} inputs of {shape} need "
                             f"{n * int(np.prod(shape)) / 2**30:.1f} GiB; pass train_per_class / test_per_class "
                             f"(--train-per-class) to load a subset")


# ------------------------------------------------------------------------------- images

_SHARED_IMAGES = {  # NAME: load(split, per_class) -> (uint8 images, labels)
    "cifar10": lambda split, n: load_cifar10(split, per_class=n),
    "fashion-mnist": lambda split, n: load_fashion_mnist(split),
    "mnist": lambda split, n: load_mnist(split),
}


def _image_source(spec: DataSpec, shape, per_class, seed, progress):
    c, h, w = shape
    if c not in (1, 3):
        raise ShapeError(f"load_dataset: image datasets give 1 (gray) or 3 (RGB) channels, the model takes {shape} "
                         f"({c} channels); for other data use npz:FILE.npz")
    crop = spec.kind == "folder"
    if crop:
        all_classes, files = list_image_folder(spec.path)
        classes, remap = _select_classes(list(all_classes), spec.classes, spec.source, spec.targets)
        splits = {s: (np.asarray([p for p, _ in items], dtype=object), np.asarray([l for _, l in items], np.int64))
                  for s, items in files.items()}
    else:
        classes, remap = _select_classes(list(CLASSES[spec.kind]), spec.classes, spec.source, spec.targets)
        splits = {s: _SHARED_IMAGES[spec.kind](s, per_class[i]) for i, s in enumerate(("train", "test"))}
    out = []
    for i, split in enumerate(("train", "test")):
        items, labels = splits[split]
        idx, labels = _subset(labels, remap, per_class[i], [seed, i], shape, spec.source, split)
        x = np.empty((len(idx), *shape), np.int8)
        for k, j in enumerate(tqdm(idx, desc=f"{Path(spec.source).name} {split}", unit="img", leave=False,
                                   disable=not progress or len(idx) < 1000)):
            img = open_image(items[j]) if crop else Image.fromarray(items[j])
            x[k] = _image_int8(img, c, (h, w), crop)
        out += [x, labels[idx]]
    return (classes, *out, IMAGE_Q)


def _image_int8(img: Image.Image, channels: int, size: tuple, crop: bool) -> np.ndarray:
    img = to_8bit(img)
    if channels == 1:
        img = img.convert("L")
    resize = tuple(int(round(s * 146 / 128)) for s in size)
    px = center_crop_resize(img, size, resize) if crop else resize_to(img, size)
    q = to_int8_input(px)
    return q[:1] if channels == 1 else q


# ------------------------------------------------------------------------------- speech

def _speech(spec: DataSpec, shape, per_class, seed, progress):
    frames = logmel.num_frames(CLIP_SAMPLES)
    if shape[0] != 1 or shape[1] != frames:
        raise ShapeError(f"load_dataset: speech-commands gives log-mel features shaped (1, frames, mels) with "
                         f"time on H: {frames} frames (1 s clips, 30 ms windows, 20 ms hop) and any number of mel "
                         f"bands on W; the model takes {shape}, i.e. {shape[1]} frames of {shape[2]} mels: build it "
                         f"for input (1, {frames}, mels), e.g. (1, {frames}, 40), or bring features of your own "
                         f"layout as npz:FILE.npz")
    classes, remap = _select_classes(list(SPEECH_CLASSES), spec.classes, spec.source, spec.targets)
    out = []
    for i, split in enumerate(("train", "test")):
        rng = np.random.default_rng([seed, i])

        def select(clips):
            idx = _choose(remap[np.asarray([c.label for c in clips], np.int64)], per_class[i], rng)
            return [clips[j] for j in idx]

        audio, labels = load_speech_commands(split, progress=progress, select=select)
        x = np.empty((len(audio), *shape), np.int8)
        for start in tqdm(range(0, len(audio), 256), desc=f"log-mel {split}", unit="batch", leave=False,
                          disable=not progress or len(audio) < 1000):
            features = logmel.log_mel(audio[start:start + 256], n_mels=shape[2])
            x[start:start + 256, 0] = logmel.quantize_features(features)
        out += [x, remap[labels]]
    return (classes, *out, SPEECH_Q)


# ------------------------------------------------------------------------------- npz arrays

def _npz(spec: DataSpec, shape, per_class, seed, progress):
    all_classes, splits, input_q = read_npz(spec.path, shape, inputs_as_targets=spec.targets == "inputs")
    if spec.classes is not None and all_classes == (UNLABELLED,):
        raise TinyTrainError(f"load_dataset: classes= in {spec.source} selects by the labels y, and the file has "
                             f"none; add y (and y_test) to the file, or drop classes=")
    classes, remap = _select_classes(list(all_classes), spec.classes, spec.source,
                                     spec.targets or ("t" if splits["train"][2] is not None else None))
    out, targets = [], []
    for i, split in enumerate(("train", "test")):
        x, labels, t = splits[split]
        idx, labels = _subset(labels, remap, per_class[i], [seed, i], shape, spec.source, split)
        out += [quantize_arrays(x[idx], input_q), labels[idx]]
        targets.append(None if t is None else t[idx])
    if targets[0] is None:
        return (classes, *out, input_q)
    return (classes, *out, input_q, "t", *targets)


LOADERS = {**{name: _image_source for name in _SHARED_IMAGES}, "speech-commands": _speech, "folder": _image_source,
           "npz": _npz}