"""A user's own data as arrays: `--data npz:PATH`, for inputs no built-in loader makes (sensor
signals, spectrograms of any size, non-square images).

The file is an `np.savez` archive of

    x        float32 (N, C, H, W), or (N, C, L) for 1-D signals   the training inputs, as the model sees them
    y        integer (N,)                                         labels 0..K-1
    x_test   float32 (M, same sample shape), y_test integer (M,)  optional, both or neither
    classes  str (K,)                                             optional class names (default "0".."K-1")
    t        float32 (N, K)                                       optional regression targets (the MSE loss),
    t_test   float32 (M, K)                                       K = the model's outputs; t_test with x_test

With float targets (t, or the spec's targets=inputs: the target is the input itself, for an
autoencoder) the labels y / y_test are optional: without them the file is one class "all" (no
classes= selection), split as one.

A 1-D sample (C, L) is fed to a model whose input is (C, 1, L) (the layer graph is 2-D: a 1-D
conv is a Conv2d with (1, k) kernels).  Without x_test, every class is split by the image
folders' fixed seed and fraction (image_folder.SPLIT_SEED / TEST_FRACTION), so the split never
depends on a training seed.  The int8 input quantization is derived from the data: per tensor,
affine over [min(x, 0), max(x, 0)] of the whole training split (the activation rule of
quantization/ptq.py, 0 exact), so it is a property of the file, not of a run's subset; test
values outside that range saturate.

The file is untrusted (docs/security.md): read with allow_pickle=False, every member's dtype and
shape checked from its .npy header (and against the zip directory's size) before its data is
read, values checked (finite x, labels in range, at least 2 classes), sizes capped.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ShapeError, TinyTrainError
from ..graph import QParams
from .image_folder import SPLIT_SEED, TEST_FRACTION

MEMBERS = ("x", "y", "x_test", "y_test", "classes", "t", "t_test")
UNLABELLED = "all"     # the one class of regression data without labels
MAX_VALUES = 1 << 29   # float32 values of x, x_test, t and t_test together (2 GiB); ask for a smaller file
MAX_CLASSES = 10_000
MAX_NAME = 100         # characters of a class name
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)
_SAVE = "save it with np.savez(PATH, x=x.astype(np.float32), y=y.astype(np.int64))"


def read_npz(path: Path, input_shape: tuple, inputs_as_targets: bool = False) -> tuple:
    """(class names, {"train": (x, y, t), "test": (x, y, t)} with float32 x shaped (n, *input_shape),
    int64 y and float32 targets t (n, K) or None, input QParams) of the file at `path` for a model of
    input (C, H, W).  `inputs_as_targets`: the spec's targets=inputs (no t in the file, y optional)."""
    where = f"npz data {path}"
    if not path.is_file():
        raise TinyTrainError(f"{where} is not a regular file; give an .npz file ({_SAVE})")
    if path.stat().st_size == 0 or not zipfile.is_zipfile(path):
        raise TinyTrainError(f"{where} is not an npz (zip) archive (empty, truncated, or another format); {_SAVE}")
    try:
        with zipfile.ZipFile(path) as archive:
            headers = _headers(archive, where)
            sample = _check_headers(headers, where, inputs_as_targets)
            _check_model_shape(sample, tuple(input_shape), where)
            arrays = {name: _read(archive, name, where) for name in headers}
    except _READ_ERRORS as err:
        raise TinyTrainError(f"{where}: cannot read the archive ({type(err).__name__}: {err}); {_SAVE}") from None
    if "y" in arrays:
        classes = _classes(arrays, where)
    else:  # regression data without labels: one class
        arrays.update({y: np.zeros(len(arrays[x]), np.int64) for x, y in (("x", "y"), ("x_test", "y_test"))
                       if x in arrays})
        classes = (UNLABELLED,)
    splits = {"train": (arrays["x"], arrays["y"], arrays.get("t"))}
    if "x_test" in arrays:
        splits["test"] = (arrays["x_test"], arrays["y_test"], arrays.get("t_test"))
    for split, (x, y, t) in splits.items():
        _check_values(x, y, t, len(classes), where, "" if split == "train" else "_test")
    missing = sorted(set(range(len(classes))) - set(np.unique(splits["train"][1]).tolist()))
    if missing:
        raise TinyTrainError(f"{where}: no training samples (y) of class(es) {[classes[i] for i in missing][:8]}; "
                             f"every class needs examples to learn from (or drop it from classes)")
    if "test" not in splits:
        splits = _split(*splits["train"], classes, where)
    x = splits["train"][0]
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        raise TinyTrainError(f"{where}: every value of x is {lo:g}; the inputs carry no information and no int8 "
                             f"input scale can be derived from them")
    from ..quantization.ptq import activation_q

    return classes, {s: (xs.reshape(len(xs), *input_shape), ys.astype(np.int64), ts)
                     for s, (xs, ys, ts) in splits.items()}, activation_q(lo, hi)


def quantize(x: np.ndarray, q: QParams) -> np.ndarray:
    """Float inputs -> int8 codes of `q` (round half to even, saturating), what to_float inverts."""
    return np.clip(np.round(x / np.float32(q.scale)) + q.zero, -128, 127).astype(np.int8)


def _headers(archive: zipfile.ZipFile, where: str) -> dict:
    """{member: (dtype, shape)} from the .npy headers, nothing inflated beyond them."""
    infos = archive.infolist()
    names = [info.filename[:-4] if info.filename.endswith(".npy") else info.filename for info in infos]
    unknown = [n for n in names if n not in MEMBERS]
    if unknown:
        raise TinyTrainError(f"{where}: unexpected member(s) {', '.join(repr(n) for n in unknown[:4])}; the file "
                             f"holds x, y and optionally x_test, y_test, classes (names are case-sensitive)")
    if len(set(names)) != len(names):
        raise TinyTrainError(f"{where}: a member appears twice in the archive; write the file again with np.savez")
    headers = {}
    for info, name in zip(infos, names):
        with archive.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read:
                raise TinyTrainError(f"{where}: {name!r} is .npy format {version}; {_SAVE}")
            shape, _, dtype = read[version](fp)
        if any(s < 0 for s in shape):
            raise TinyTrainError(f"{where}: {name!r} declares the negative shape {tuple(shape)}; {_SAVE}")
        if dtype.hasobject:
            raise TinyTrainError(f"{where}: {name!r} is an object array, which needs pickle to load and could run "
                                 f"code; store plain numbers ({name} as "
                                 f"{'str' if name == 'classes' else 'float32 / integer'} arrays)")
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
            raise TinyTrainError(f"{where}: {name!r} declares {dtype} {tuple(shape)} but its member holds "
                                 f"{info.file_size:,} bytes (truncated or forged); {_SAVE}")
        headers[name] = (dtype, tuple(int(s) for s in shape))
    return headers


def _check_headers(headers: dict, where: str, inputs_as_targets: bool = False) -> tuple:
    """dtype and shape of every member; the shape of one sample."""
    _check_target_headers(headers, where, inputs_as_targets)
    regression = inputs_as_targets or "t" in headers
    for required in ("x",) if regression else ("x", "y"):
        if required not in headers:
            raise TinyTrainError(f"{where} has no {required!r} array; it needs x (inputs) and y (labels), or float "
                                 f"targets t (or the spec's :targets=inputs) for the MSE loss: {_SAVE}")
    if "y" not in headers and "y_test" in headers:
        raise TinyTrainError(f"{where} has y_test but no y; labels are optional with float targets, but give them "
                             f"for both splits or neither")
    if "y" in headers and ("x_test" in headers) != ("y_test" in headers):
        have, lack = ("x_test", "y_test") if "x_test" in headers else ("y_test", "x_test")
        raise TinyTrainError(f"{where} has {have} but no {lack}; give both (a test set) or neither (a fixed split "
                             f"of x, y)")
    sample = headers["x"][1][1:]
    for x_name, y_name in (("x", "y"), ("x_test", "y_test")):
        if x_name not in headers:
            continue
        _check_target_shape(headers, x_name, where)
        dtype, shape = headers[x_name]
        if dtype != np.float32:
            raise TinyTrainError(f"{where}: {x_name} is {dtype}, expected float32 (the real values the model sees, "
                                 f"quantized to int8 here); convert it with {x_name}.astype(np.float32)")
        if len(shape) not in (3, 4):
            raise TinyTrainError(f"{where}: {x_name} has shape {shape}, expected (N, C, H, W) or (N, C, L) for 1-D "
                                 f"signals (a channel axis even for one channel: x[:, None])")
        if 0 in shape:
            raise TinyTrainError(f"{where}: {x_name} has shape {shape}, which holds no samples; give at least one")
        if shape[1:] != sample:
            raise TinyTrainError(f"{where}: {x_name} samples are {shape[1:]}, x samples are {sample}; every input "
                                 f"must have the model's shape")
        if y_name not in headers:
            continue
        y_dtype, y_shape = headers[y_name]
        if y_dtype.kind not in "iu" or len(y_shape) != 1:
            raise TinyTrainError(f"{where}: {y_name} is {y_dtype} {y_shape}, expected integer labels (N,), e.g. "
                                 f"{y_name}.astype(np.int64)")
        if y_shape[0] != shape[0]:
            raise TinyTrainError(f"{where}: {x_name} holds {shape[0]} samples but {y_name} {y_shape[0]} labels; "
                                 f"give one label per sample")
    floats = [n for n in ("x", "x_test", "t", "t_test") if n in headers]
    values = sum(int(np.prod(headers[n][1], dtype=np.float64)) for n in floats)
    if values > MAX_VALUES:
        raise TinyTrainError(f"{where}: {' and '.join(floats)} hold {values:,} values ({values * 4 / 2**30:.1f} GiB), "
                             f"more than {MAX_VALUES:,}; write a smaller file (fewer samples per class)")
    if "classes" in headers:
        dtype, shape = headers["classes"]
        if dtype.kind != "U" or len(shape) != 1 or not 2 <= shape[0] <= MAX_CLASSES:
            raise TinyTrainError(f"{where}: classes is {dtype} {shape}, expected 2..{MAX_CLASSES} class names as a "
                                 f"str array, e.g. np.array(['left', 'right'])")
    return sample


def _check_target_headers(headers: dict, where: str, inputs_as_targets: bool):
    """Which target arrays may appear together (before any of their shapes is looked at)."""
    if inputs_as_targets and ("t" in headers or "t_test" in headers):
        raise TinyTrainError(f"{where} holds targets t, but the spec says targets=inputs; drop :targets=inputs to "
                             f"train on t, or leave t out of the file to reconstruct the inputs")
    if "t_test" in headers and "t" not in headers:
        raise TinyTrainError(f"{where} has t_test but no t; give training targets t (or leave t_test out)")
    if "t" in headers and ("x_test" in headers) != ("t_test" in headers):
        have, lack = ("x_test", "t_test") if "x_test" in headers else ("t_test", "x_test")
        raise TinyTrainError(f"{where} has t and {have} but no {lack}; with float targets a test set is x_test with "
                             f"t_test (or neither: a fixed split of x, t)")


def _check_target_shape(headers: dict, x_name: str, where: str):
    t_name = "t" + x_name[1:]
    if t_name not in headers:
        return
    (t_dtype, t_shape), n = headers[t_name], headers[x_name][1][0]
    if t_dtype != np.float32 or len(t_shape) != 2:
        raise TinyTrainError(f"{where}: {t_name} is {t_dtype} {t_shape}, expected float32 (N, K) targets, one row "
                             f"of the model's K outputs per sample: {t_name}.reshape(len({t_name}), -1)"
                             f".astype(np.float32)")
    if t_shape[0] != n:
        raise TinyTrainError(f"{where}: {x_name} holds {n} samples but {t_name} {t_shape[0]} targets; give one "
                             f"target row per sample")


def _check_model_shape(sample: tuple, input_shape: tuple, where: str):
    if len(sample) == 3 and sample == input_shape:
        return
    if len(sample) == 2 and input_shape == (sample[0], 1, sample[1]):
        return
    if len(sample) == 2:
        raise ShapeError(f"{where}: x holds 1-D samples (C, L) = {sample}, which feed a model of input (C, 1, L) = "
                         f"{(sample[0], 1, sample[1])}; the model takes {input_shape}: build it for that input (1-D "
                         f"convs as Conv2d with (1, k) kernels) or reshape x")
    raise ShapeError(f"{where}: x samples are {sample} (C, H, W), the model takes {input_shape}; npz data is used as "
                     f"given (not resized): write x for the model's input, or build the model for {sample}")


def _read(archive: zipfile.ZipFile, name: str, where: str) -> np.ndarray:
    try:
        with archive.open(name + ".npy") as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except _READ_ERRORS as err:
        raise TinyTrainError(f"{where}: cannot read {name!r} ({type(err).__name__}: {err}); the file is damaged: "
                             f"{_SAVE}") from None


def _classes(arrays: dict, where: str) -> tuple[str, ...]:
    labels = [arrays[n] for n in ("y", "y_test") if n in arrays]
    if "classes" in arrays:
        names = tuple(str(c) for c in arrays["classes"])
        for c in names:
            if not c or len(c) > MAX_NAME or not c.isprintable() or c != c.strip():
                raise TinyTrainError(f"{where}: class name {c[:MAX_NAME]!r} must be 1..{MAX_NAME} printable "
                                     f"characters without surrounding spaces")
        if len(set(names)) != len(names):
            twice = sorted({c for c in names if names.count(c) > 1})
            raise TinyTrainError(f"{where}: classes lists {twice[0]!r} more than once; give every class one name")
        return names
    top = max(int(y.max()) for y in labels)
    if top + 1 > MAX_CLASSES:
        raise TinyTrainError(f"{where}: labels go up to {top}, more than {MAX_CLASSES} classes; labels are class "
                             f"indices 0..K-1")
    if top < 1 and min(int(y.min()) for y in labels) >= 0:  # negative labels: named by _check_values
        raise TinyTrainError(f"{where}: every label is {top}: one class only; a classifier needs at least 2")
    return tuple(str(i) for i in range(top + 1))


def _check_values(x: np.ndarray, y: np.ndarray, t, num_classes: int, where: str, suffix: str):
    for name, values, what in (("x", x, "inputs"), ("t", t, "targets")):
        if values is None:
            continue
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            kind = "NaN" if np.isnan(values[first]).any() else "inf"
            raise TinyTrainError(f"{where}: {name}{suffix} holds {kind} (sample {first}, {int(bad.sum())} sample(s) "
                                 f"in all); {what} must be finite numbers")
    out = (y < 0) | (y >= num_classes)
    if out.any():
        first = int(np.flatnonzero(out)[0])
        raise TinyTrainError(f"{where}: y{suffix}[{first}] is {int(y[first])}, outside the class indices "
                             f"0..{num_classes - 1} ({num_classes} classes); labels are class indices")


def _split(x: np.ndarray, y: np.ndarray, t, classes: tuple, where: str) -> dict:
    """The fixed per-class split of x, y (and t) when the file has no test set."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for c in range(len(classes)):
        members = np.flatnonzero(y == c)
        if len(members) < 2:
            raise TinyTrainError(f"{where}: class {classes[c]!r} has {len(members)} sample(s); without x_test / "
                                 f"y_test each class needs at least 2 (one for training, one for testing)")
        order = members[rng.permutation(len(members))]
        n_test = max(1, int(round(TEST_FRACTION * len(members))))
        test.append(np.sort(order[:n_test]))
        train.append(np.sort(order[n_test:]))
    train, test = np.concatenate(train), np.concatenate(test)
    return {s: (x[i], y[i], None if t is None else t[i]) for s, i in (("train", train), ("test", test))}
