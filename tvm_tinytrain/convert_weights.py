"""Convert the paper's int8 backbone ``.pkl`` files into numpy-only ``.npz`` + ``.json``.

Why: a pickle is a small program, and loading one with the ordinary unpickler can run
arbitrary code (``os.system``, ``eval``, ...).  The released weights are plain nested
dicts/lists of numpy arrays and numbers, so we read them with `safe_pickle`, which admits
only the constructions a numpy array pickle needs, each checked before it allocates, and
refuses everything else -- including torch tensors/storages (torch is never imported here).
The result is the same nested structure as JSON, every array replaced by
``{"__array__": KEY, "dtype": ..., "shape": [...]}`` where ``KEY`` is the array's dotted
path (``blocks.3.depthwise.params.weight``) in the ``.npz`` (``allow_pickle=False``).

Accepted inputs: a ``torch.save`` zip archive (``<name>/data.pkl`` inside), a legacy
``torch.save`` stream (``_use_new_zipfile_serialization=False``) and a ``pickle.dump`` file.
Everything read is bounded: the file (or zip member, by its header and while inflating),
each array and all arrays together, the nesting depth and the number of values; an array's
key path must be a plain dotted name, so it cannot name an npz member outside the archive.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import WeightFileError
from .safe_pickle import (DTYPE_CODES, MAX_TOTAL_BYTES, Loader, NotPickle, PendingArray, Refused, Sealed,
                          TooLarge, Unadmitted, Value)

MAX_FILE_BYTES = MAX_TOTAL_BYTES + (64 << 20)  # the arrays plus their structure
MAX_INFLATE_RATIO = 100   # torch.save stores members uncompressed; real weights deflate < 2x
MAX_DEPTH = 64            # the paper's files nest 6 deep
MAX_VALUES = 1_000_000    # the paper's files hold ~5,000
MAX_KEY_LENGTH = 200
SAFE_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

_REFUSAL = ("pickles can run code when loaded, so only numpy arrays and plain containers "
            "(dict, list, tuple, numbers, strings, None) are admitted")
_TOO_LARGE = "the limits keep a hostile file from exhausting memory (a real backbone is a few MB)"
_TORCH_HINT = (" The file holds torch tensors: load it yourself in a trusted environment "
               "and save numpy arrays instead (tensor.numpy()).")

# torch.save legacy (non-zip) format: MAGIC, protocol version, sys_info, object, storage keys.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _unpickle(data: bytes, source: str):
    """The object of a pickle stream (or of a torch legacy stream), read with `safe_pickle`."""
    loader = Loader(data)
    try:
        first = loader.load()
        if not (type(first) is int and first == _TORCH_LEGACY_MAGIC):
            return first
        loader.load(), loader.load()  # protocol version, sys_info
        obj = loader.load()
        if loader.load():  # storage keys: non-empty means tensors (already refused above)
            raise WeightFileError(f"convert_weights: {source} holds torch storages; {_REFUSAL}.")
        return obj
    except TooLarge as e:
        raise WeightFileError(f"convert_weights: {source}: refused {e}; {_TOO_LARGE}.") from None
    except Refused as e:
        hint = _TORCH_HINT if ("'torch." in str(e) or "torch storage" in str(e)) else ""
        raise WeightFileError(f"convert_weights: {source}: refused {e}; {_REFUSAL}.{hint}") from None
    except NotPickle as e:
        raise WeightFileError(
            f"convert_weights: {source} is truncated or not a valid pickle ({e}); "
            "re-download or re-export it.") from None


def _read_bounded(f, limit: int, what: str) -> bytes:
    """Read ``f`` to its end, refusing it as soon as more than ``limit`` bytes arrive."""
    chunks, total = [], 0
    while chunk := f.read(min(1 << 20, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise WeightFileError(f"convert_weights: {what} holds more than {limit:,} bytes; {_TOO_LARGE}.")
    return b"".join(chunks)


def _read_pkl(path: Path):
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise WeightFileError(f"convert_weights: {path} is {kind}; pass the .pkl weight file.")
        if st.st_size > MAX_FILE_BYTES:
            raise WeightFileError(f"convert_weights: {path} is {st.st_size:,} bytes, more than the "
                                  f"{MAX_FILE_BYTES:,} this tool reads; {_TOO_LARGE}.")
        with path.open("rb") as f:
            data = _read_bounded(f, st.st_size, str(path))
    except FileNotFoundError:
        raise WeightFileError(f"convert_weights: weight file {path} does not exist.") from None
    except OSError as e:
        raise WeightFileError(f"convert_weights: cannot read {path}: {e}.") from None
    if not data.startswith(b"PK\x03\x04"):
        return _unpickle(data, str(path))
    return _read_torch_zip(path)


def _read_torch_zip(path: Path):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")]
            if len(infos) != 1:
                raise WeightFileError(
                    f"convert_weights: {path} is a zip but not a torch.save archive "
                    f"(expected one '<name>/data.pkl', found {[i.filename for i in infos] or 'none'}).")
            info = infos[0]
            where = f"{path}:{info.filename}"
            if info.file_size > MAX_FILE_BYTES or (info.compress_type != zipfile.ZIP_STORED and info.file_size
                                                   > MAX_INFLATE_RATIO * info.compress_size + (1 << 20)):
                raise WeightFileError(
                    f"convert_weights: {where} inflates from {info.compress_size:,} to {info.file_size:,} "
                    f"bytes (a zip bomb?); members are limited to {MAX_FILE_BYTES:,} bytes and "
                    f"{MAX_INFLATE_RATIO}x compression: {_TOO_LARGE}.")
            with zf.open(info) as member:  # the header may lie: stop reading past what it declared
                data = _read_bounded(member, info.file_size, where)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        raise WeightFileError(
            f"convert_weights: {path} is a truncated or corrupt zip archive ({e}); "
            "re-download or re-export it.") from None
    return _unpickle(data, where)


class _Tree:
    """Mirrors the unpickled object as JSON-able data, moving its arrays into ``arrays``.

    Bounded: nesting depth (recursion stays shallow), number of values (a pickle can share one
    list many times over), total array bytes written, and array key paths (npz member names).
    """

    def __init__(self, source):
        self.source = source
        self.arrays = {}
        self.values = 0
        self.bytes = 0

    def _error(self, text) -> WeightFileError:
        return WeightFileError(f"convert_weights: {self.source}: {text}")

    def convert(self, obj, key="", depth=0):
        where = repr(key[:120] or "<top level>")
        self.values += 1
        if self.values > MAX_VALUES:
            raise self._error(f"the pickle holds more than {MAX_VALUES:,} values (a list shared many times "
                              f"over?); {_TOO_LARGE}.")
        if depth > MAX_DEPTH:
            raise self._error(f"values nested more than {MAX_DEPTH} levels deep at {where}...; a weight file is "
                              "a shallow tree of layers.")
        if isinstance(obj, PendingArray) and obj.value is None:
            raise self._error(f"array at {where} has no data (an ndarray reduction without its state); {_REFUSAL}.")
        if isinstance(obj, Value):
            obj = obj.value
        if isinstance(obj, Unadmitted):
            raise self._error(f"{obj.kind} at {where} has dtype {obj.dtype}, which cannot be stored without "
                              f"pickle; only {', '.join(sorted(DTYPE_CODES))} are admitted.")
        if obj is None or isinstance(obj, str):
            return obj
        if isinstance(obj, (bool, np.bool_)):  # numpy scalars become plain JSON numbers
            return bool(obj)
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return self._array(obj, key)
        prefix = f"{key}." if key else ""
        if isinstance(obj, dict):
            bad = [k for k in obj if not isinstance(k, str) or k == "__array__"]
            if bad:
                raise self._error(f"dict at {where} has key {bad[0]!r:.60}; only string keys (other than "
                                  "'__array__') can be written to JSON.")
            return {k: self.convert(v, prefix + k, depth + 1) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.convert(v, f"{prefix}{i}", depth + 1) for i, v in enumerate(obj)]
        kind = obj.kind if isinstance(obj, Sealed) else type(obj).__name__
        raise self._error(f"value at {where} has type {kind}, which cannot be represented in JSON + npz "
                          "(expected dict, list, tuple, number, string, None or numpy array).")

    def _array(self, array, key):
        if len(key) > MAX_KEY_LENGTH or not SAFE_KEY.fullmatch(key):
            raise self._error(f"array at {key[:120]!r} cannot be an npz member: the keys on its path may hold "
                              f"only letters, digits, '_' and '-' (dots join levels; at most {MAX_KEY_LENGTH} "
                              "characters); rename them in a trusted environment.")
        if key in self.arrays:
            raise self._error(f"two arrays map to the same key '{key}' (a dict key contains '.').")
        self.bytes += array.nbytes
        if self.bytes > MAX_TOTAL_BYTES:
            raise self._error(f"the arrays to write exceed {MAX_TOTAL_BYTES:,} bytes (one array shared many "
                              f"times over?); {_TOO_LARGE}.")
        self.arrays[key] = array
        return {"__array__": key, "dtype": str(array.dtype), "shape": list(array.shape)}


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
    tree = _Tree(pkl_path)
    text = json.dumps(tree.convert(obj), indent=1)
    arrays = tree.arrays

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
