"""Checkpoints: the trained parameters of a run, loadable back into a training program.

A checkpoint is one `.npz` holding every trained tensor *whole* (a split weight's trained
slice is put back beside its frozen rest) plus a `__meta__` JSON string (model, scheme,
epochs, accuracy, ...).  Loading replaces those tensors' initial values in a
`TrainingProgram` before code generation, so `compile --init` / `train --init` continue from it.

A checkpoint travels between people, so `load_checkpoint` trusts nothing in it: no pickle,
a size cap read from the zip directory before anything is inflated, `__meta__` and its
fields type-checked, plain int8 / int32 / float32 arrays only; every problem is one
WeightFileError naming the file.  `save_checkpoint` writes a hidden `.NAME.<pid>.tmp` in the
same folder, fsyncs it and renames it over NAME, so a kill leaves the old or the new file;
a name that looks like such a temp is never taken for a checkpoint.

`quantization` in `__meta__` names the int8 graph the run trained (graph_file.quantization_hash);
`check_quantization` refuses to resume a run on another.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import TinyTrainError, WeightFileError
from ..outputs import fsync_dir
from ..scheme import is_state, state_start

FORMAT = "tvm-tinytrain checkpoint 1"
MAX_BYTES = 1 << 30  # inflated size of all members; a whole model for a microcontroller is a few MB
DTYPES = ("int8", "int32", "float32")  # what a training program's parameters are
_NUMBER = (int, float)
META_FIELDS = {"model": str, "scheme": str, "data": str, "engine": str, "target": str,
               "epochs": int, "seed": int, "classes": list, "test_accuracy": _NUMBER,
               "initial_accuracy": (*_NUMBER, type(None)), "quantization": str}
# errors reading a member: zip damage, a bad .npy header, a compression or encryption zipfile cannot read
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


def whole_params(trained: dict, memory: dict, initial: dict) -> dict:
    """Trained values as read back from the C program (slices for split weights) -> whole tensors."""
    out = {}
    for entry in memory["trained_params"]:
        name, value = entry["name"], np.asarray(trained[entry["name"]])
        if "slice" in entry:
            full = np.array(initial[name], copy=True)
            k = entry["slice"]
            if entry.get("depthwise"):
                full[:k] = value
            else:
                full[:, :k] = value
            value = full
        out[name] = value
    return out


def temp_path(path: Path) -> Path:
    """Where `save_checkpoint` writes before the rename: hidden, per process, clearly temporary."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def looks_temporary(path: Path) -> bool:
    """A temp of an interrupted save (this one's `.NAME.<pid>.tmp`, or older `NAME.tmp.npz`)."""
    return path.name.endswith(".tmp") or ".tmp." in path.name


def save_checkpoint(path, params: dict, meta: dict, force: bool = False) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise TinyTrainError(f"checkpoint {path}: the file name must end in .npz")
    if looks_temporary(path):
        raise TinyTrainError(f"checkpoint {path}: names holding '.tmp' are kept for unfinished saves; choose another")
    if path.is_dir():
        raise TinyTrainError(f"checkpoint {path} is a folder; give the path of a .npz file")
    if path.exists() and not force:
        raise TinyTrainError(f"checkpoint {path} exists; choose another name or pass --force to overwrite it")
    blob = {name: np.asarray(v) for name, v in params.items()}
    blob["__meta__"] = np.array(json.dumps({"format": FORMAT, **meta}))
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself durable
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise TinyTrainError(f"cannot write checkpoint {path}: {err.strerror or err}") from None
    except BaseException:  # Ctrl-C, SIGTERM: no temp file left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path) -> tuple[dict, dict]:
    """(params, meta) of a checkpoint written by save_checkpoint; WeightFileError for anything else."""
    path = Path(path)
    if path.is_dir():
        raise WeightFileError(f"checkpoint {path} is a folder; give the checkpoint.npz file inside it")
    if not path.exists():
        raise WeightFileError(f"checkpoint {path} not found")
    if not path.is_file():
        raise WeightFileError(f"checkpoint {path} is not a regular file (a pipe, socket or device); give a .npz file")
    if looks_temporary(path):
        raise WeightFileError(f"{path} is the temporary file of an unfinished save, not a checkpoint; use the "
                              f".npz beside it (the save it belongs to never completed)")
    if path.stat().st_size == 0:
        raise WeightFileError(f"checkpoint {path} is empty (0 bytes); it was not written completely")
    blob = _read_arrays(path)
    if "__meta__" not in blob:
        raise WeightFileError(f"{path} is not a tvm-tinytrain checkpoint (no __meta__ entry)")
    meta = _meta(path, blob.pop("__meta__"))
    if not blob:
        raise WeightFileError(f"checkpoint {path} holds no parameters; it is not the output of a training run")
    for name, value in blob.items():
        if value.dtype.name not in DTYPES:
            raise WeightFileError(f"checkpoint {path}: parameter {name!r} is {value.dtype}, expected one of "
                                  f"{', '.join(DTYPES)}; the file was not written by tvm-tinytrain")
    return blob, meta


def _read_arrays(path: Path) -> dict:
    """Every member as a numpy array, after the size cap; never unpickles."""
    if not zipfile.is_zipfile(path):
        raise WeightFileError(f"checkpoint {path} is not an npz (zip) archive: truncated, or not a checkpoint")
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except _READ_ERRORS as err:
        raise WeightFileError(f"cannot read checkpoint {path}: {err}") from None
    if inflated > MAX_BYTES:
        raise WeightFileError(f"checkpoint {path} inflates to {inflated:,} bytes (more than {MAX_BYTES:,}); "
                              f"it is not a checkpoint of a microcontroller model")
    blob, name = {}, "__meta__"
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                blob[name] = data[name]
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise WeightFileError(f"checkpoint {path}: {name!r} is an object array that needs pickle, which could "
                                  f"run code; checkpoints hold plain numeric arrays only") from None
        raise WeightFileError(f"cannot read checkpoint {path}: {err}") from None
    except _READ_ERRORS as err:
        raise WeightFileError(f"cannot read checkpoint {path}: {type(err).__name__}: {err} (truncated or "
                              f"corrupt)") from None
    for name, value in blob.items():
        if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of a member that is not .npy
            raise WeightFileError(f"checkpoint {path}: member {name!r} is not a numpy array (.npy); the file was "
                                  f"not written by tvm-tinytrain")
    return blob


def _meta(path: Path, raw: np.ndarray) -> dict:
    if raw.dtype.kind != "U" or raw.shape != ():
        raise WeightFileError(f"checkpoint {path}: __meta__ is {raw.dtype} {raw.shape}, expected a JSON string")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise WeightFileError(f"checkpoint {path}: __meta__ is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise WeightFileError(f"checkpoint {path}: __meta__ is a JSON {type(meta).__name__}, expected an object")
    if meta.get("format") != FORMAT:
        raise WeightFileError(f"{path}: unknown checkpoint format {meta.get('format')!r} (expected {FORMAT!r})")
    for key, kind in META_FIELDS.items():
        value = meta.get(key)
        wrong = isinstance(value, bool) or not isinstance(value, kind)
        if key in meta and (wrong or (kind is list and not all(isinstance(v, str) for v in value))):
            want = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise WeightFileError(f"checkpoint {path}: __meta__ field {key!r} is {json.dumps(value)[:60]}, "
                                  f"expected {want}{' of strings' if kind is list else ''}")
    quantization = meta.get("quantization")
    if quantization is not None and (len(quantization) != 64 or set(quantization) - set("0123456789abcdef")):
        raise WeightFileError(f"checkpoint {path}: __meta__ field 'quantization' is {json.dumps(quantization)[:60]}, "
                              f"expected a sha256 (64 lower-case hex digits)")
    return meta


def check_quantization(meta: dict, expected: str, where: str, fixed: bool, log=print):
    """Refuse a checkpoint trained on another int8 graph than the one about to be trained (its
    `quantization` hash, graph_file.quantization_hash).  A checkpoint from before the hash was
    recorded is taken only when `fixed`: the model's int8 graph cannot have changed (a paper
    backbone); an fp32 model was re-quantized by every run."""
    recorded = meta.get("quantization")
    if recorded == expected:
        return
    fix = "quantize once with `tvm-tinytrain quantize` and train from that file"
    if recorded is None and fixed:
        log(f"warning: {where} records no quantization (written by an older tvm-tinytrain); the model's int8 graph "
            f"is fixed, so it is used")
        return
    if recorded is None:
        raise TinyTrainError(f"{where} records no quantization, and the model is fp32, quantized again by every run "
                             f"(here to quantization {expected}), so the checkpoint's scales may differ; {fix}")
    raise TinyTrainError(f"{where} was trained on quantization {recorded}, but the model here is quantization "
                         f"{expected} (other scales or weights: another calibration, head or model); {fix}")


def apply_checkpoint(program, params: dict, where: str = "checkpoint") -> list[str]:
    """Use checkpoint values as the initial values of `program`'s parameters (in place).  Optimizer
    state (momentum's velocities, float copies) carries over when the program has it too; a program
    without it starts from the trained values alone, as an optimizer reset does, and a state the
    checkpoint lacks starts at its start value for the checkpoint's values (scheme.state_start: a
    float copy from the checkpoint's integers).  Returns the names of the states started so."""
    for name, value in params.items():
        if is_state(name) and name not in program.params:
            continue
        if name not in program.params:
            known = [n for n in program.params if n.endswith((".weight", ".bias"))]
            raise TinyTrainError(f"{where}: parameter {name!r} is not in the training program of "
                                 f"{program.graph.name!r} (it has {', '.join(known[:4])}, ...); was the checkpoint "
                                 f"written for another model?")
        old = np.asarray(program.params[name])
        if old.shape != value.shape or old.dtype != value.dtype:
            raise TinyTrainError(f"{where}: {name!r} is {value.dtype} {tuple(value.shape)}, the program expects "
                                 f"{old.dtype} {tuple(old.shape)} (another model, head size or fp32_classifier "
                                 f"setting?)")
        program.params[name] = value
    fresh = [name for name in program.params if is_state(name) and name not in params]
    for name in fresh:
        start = np.asarray(program.params[name])
        program.params[name] = state_start(name, program.params[name.rsplit(".", 1)[0]], start.shape)
    return fresh
