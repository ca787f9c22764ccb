"""Checkpoints: the trained parameters of a run, loadable back into a training program.

A checkpoint is one `.npz` holding every trained tensor *whole* (a split weight's trained
slice is put back beside its frozen rest) plus a `__meta__` JSON string (model, scheme,
epochs, accuracy, ...).  Loading replaces those tensors' initial values in a
`TrainingProgram` before code generation, so `compile --init` / `train --init` continue from it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TinyTrainError, WeightFileError

FORMAT = "tvm-tinytrain checkpoint 1"


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


def save_checkpoint(path, params: dict, meta: dict, force: bool = False) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise TinyTrainError(f"checkpoint {path}: the file name must end in .npz")
    if path.exists() and not force:
        raise TinyTrainError(f"checkpoint {path} exists; choose another name or pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {name: np.asarray(v) for name, v in params.items()}
    blob["__meta__"] = np.array(json.dumps({"format": FORMAT, **meta}))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **blob)
    tmp.replace(path)
    return path


def load_checkpoint(path) -> tuple[dict, dict]:
    """(params, meta) of a checkpoint written by save_checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"checkpoint {path} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            blob = {k: data[k] for k in data.files}
        meta = json.loads(str(blob.pop("__meta__")))
    except KeyError:
        raise WeightFileError(f"{path} is not a tvm-tinytrain checkpoint (no __meta__ entry)") from None
    except (ValueError, OSError, json.JSONDecodeError) as err:
        raise WeightFileError(f"cannot read checkpoint {path}: {err}") from None
    if meta.get("format") != FORMAT:
        raise WeightFileError(f"{path}: unknown checkpoint format {meta.get('format')!r} (expected {FORMAT!r})")
    return blob, meta


def apply_checkpoint(program, params: dict, where: str = "checkpoint"):
    """Use checkpoint values as the initial values of `program`'s parameters (in place)."""
    for name, value in params.items():
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
