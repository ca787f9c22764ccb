"""Convert the paper's int8 backbone ``.pkl`` files into numpy-only ``.npz`` + ``.json``.

Why: a pickle is a small program, and loading one with the ordinary unpickler can run
arbitrary code (``os.system``, ``eval``, ...).  The released weights are plain nested
dicts/lists of numpy arrays and numbers, so we read them with a *restricted* unpickler
that admits only the globals numpy arrays and plain containers need, and refuses
everything else -- including torch tensors/storages (torch is never imported here).
The result is the same nested structure as JSON, every array replaced by
``{"__array__": KEY, "dtype": ..., "shape": [...]}`` where ``KEY`` is the array's dotted
path (``blocks.3.depthwise.params.weight``) in the ``.npz`` (``allow_pickle=False``).

Accepted inputs: a ``torch.save`` zip archive (``<name>/data.pkl`` inside), a legacy
``torch.save`` stream (``_use_new_zipfile_serialization=False``) and a ``pickle.dump`` file.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import WeightFileError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray, numeric as _numeric


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes`` (latin1 only)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise WeightFileError(
            f"convert_weights: refused _codecs.encode(..., {encoding!r}) in the pickle; "
            "only latin1 (how protocol 2 stores bytes) is admitted")
    return text.encode("latin1")


# (module, name) -> object.  Nothing is imported by name from the file.
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
}
for _mod in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_mod}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(f"{_mod}.multiarray", "scalar")] = _multiarray.scalar
    _ALLOWED[(f"{_mod}.numeric", "_frombuffer")] = _numeric._frombuffer  # protocol 5

_REFUSAL = ("pickles can run code when loaded, so only numpy arrays and plain containers "
            "(dict, list, tuple, numbers, strings, None) are admitted")
_TORCH_HINT = (" The file holds torch tensors: load it yourself in a trusted environment "
               "and save numpy arrays instead (tensor.numpy()).")

# torch.save legacy (non-zip) format: MAGIC, protocol version, sys_info, object, storage keys.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            hint = _TORCH_HINT if module.split(".")[0] == "torch" else ""
            raise WeightFileError(
                f"convert_weights: refused global '{module}.{name}' in {self.source}: "
                f"{_REFUSAL}.{hint}") from None

    def persistent_load(self, pid):
        raise WeightFileError(
            f"convert_weights: refused persistent id {str(pid)[:80]!r} (a torch storage) in "
            f"{self.source}: {_REFUSAL}.{_TORCH_HINT}")


def _unpickle(stream, source):
    """Load every object from a pickle stream with the restricted unpickler."""
    up = _RestrictedUnpickler(stream)
    up.source = source
    try:
        first = up.load()
        if not (type(first) is int and first == _TORCH_LEGACY_MAGIC):
            return first
        up.load(), up.load()  # protocol version, sys_info
        obj = up.load()
        if up.load():  # storage keys: non-empty means tensors (already refused above)
            raise WeightFileError(f"convert_weights: {source} holds torch storages; {_REFUSAL}.")
        return obj
    except WeightFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, OverflowError) as e:
        raise WeightFileError(
            f"convert_weights: {source} is truncated or not a valid pickle "
            f"({type(e).__name__}: {e}); re-download or re-export it.") from None


def _read_pkl(path: Path):
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise WeightFileError(f"convert_weights: weight file {path} does not exist.") from None
    except OSError as e:
        raise WeightFileError(f"convert_weights: cannot read {path}: {e}.") from None
    if head != b"PK\x03\x04":
        with path.open("rb") as f:
            return _unpickle(f, str(path))
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
            if len(names) != 1:
                raise WeightFileError(
                    f"convert_weights: {path} is a zip but not a torch.save archive "
                    f"(expected one '<name>/data.pkl', found {names or 'none'}).")
            data = zf.read(names[0])
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise WeightFileError(
            f"convert_weights: {path} is a truncated or corrupt zip archive ({e}); "
            "re-download or re-export it.") from None
    return _unpickle(io.BytesIO(data), f"{path}:{names[0]}")


def _to_json(obj, key, arrays):
    """Mirror ``obj`` as JSON-able data, moving arrays into ``arrays`` under dotted keys."""
    where = key or "<top level>"
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):  # numpy scalars become plain JSON numbers
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise WeightFileError(
                f"convert_weights: array at '{where}' has dtype {obj.dtype} (Python objects), "
                "which cannot be stored without pickle.")
        if key in arrays:
            raise WeightFileError(f"convert_weights: two arrays map to the same key '{key}' "
                                  "(a dict key contains '.').")
        arrays[key] = obj
        return {"__array__": key, "dtype": str(obj.dtype), "shape": list(obj.shape)}
    prefix = f"{key}." if key else ""
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, str) or k == "__array__"]
        if bad:
            raise WeightFileError(
                f"convert_weights: dict at '{where}' has key {bad[0]!r}; only string keys "
                "(other than '__array__') can be written to JSON.")
        return {k: _to_json(v, prefix + k, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v, f"{prefix}{i}", arrays) for i, v in enumerate(obj)]
    raise WeightFileError(
        f"convert_weights: value at '{where}' has type {type(obj).__name__}, which cannot be "
        "represented in JSON + npz (expected dict, list, tuple, number, string, None or "
        "numpy array).")


def _write_npz(f, arrays):
    """Same layout as ``np.savez`` (stored, ``KEY.npy`` members), no pickle allowed."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


def convert_pkl(pkl_path, out_dir=None, force=False) -> tuple[Path, Path]:
    """Convert ``pkl_path`` to ``<stem>.npz`` + ``<stem>.json``; return their paths.

    Raises WeightFileError for missing/corrupt/unsafe input, unrepresentable values, or
    outputs that already exist (unless ``force``).
    """
    pkl_path = Path(pkl_path)
    out_dir = Path(out_dir) if out_dir is not None else pkl_path.parent
    npz_path = out_dir / f"{pkl_path.stem}.npz"
    json_path = out_dir / f"{pkl_path.stem}.json"
    existing = [str(p) for p in (npz_path, json_path) if p.exists()]
    if existing and not force:
        raise WeightFileError(
            f"convert_weights: output {', '.join(existing)} already exists; pass --force "
            "(force=True) to overwrite it or choose another output folder.")

    obj = _read_pkl(pkl_path)
    if not isinstance(obj, dict):
        raise WeightFileError(
            f"convert_weights: {pkl_path} holds a {type(obj).__name__} at the top level; "
            "expected a dict of layers (first_conv, blocks, ...).")
    arrays = {}
    text = json.dumps(_to_json(obj, "", arrays), indent=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        for suffix, write in ((".npz", lambda f: _write_npz(f, arrays)),
                              (".json", lambda f: f.write(text.encode("utf-8")))):
            fd, tmp = tempfile.mkstemp(prefix=f".{pkl_path.stem}.", suffix=suffix + ".tmp",
                                       dir=out_dir)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                write(f)
        os.replace(temps[0], npz_path)
        os.replace(temps[1], json_path)
    except OSError as e:
        raise WeightFileError(f"convert_weights: cannot write into {out_dir}: {e}.") from None
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return npz_path, json_path


def load_converted(json_path):
    """Inverse of :func:`convert_pkl`: the nested structure with numpy arrays put back."""
    json_path = Path(json_path)
    try:
        tree = json.loads(json_path.read_text())
        with np.load(json_path.with_suffix(".npz"), allow_pickle=False) as npz:
            def fill(node):
                if isinstance(node, dict):
                    if "__array__" in node:
                        return npz[node["__array__"]]
                    return {k: fill(v) for k, v in node.items()}
                return [fill(v) for v in node] if isinstance(node, list) else node
            return fill(tree)
    except (OSError, ValueError, KeyError) as e:
        raise WeightFileError(
            f"convert_weights: cannot load converted weights {json_path} (+ .npz): {e}.") from None
