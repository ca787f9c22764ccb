"""A converted backbone (`<name>.json` + `<name>.npz`) read field by field, each value checked as read.

Why: the files travel between people, and a value that is only checked where it is used ends
as a KeyError, a crash deep in TVM, or a silently wrong model.  Every getter here checks the
type and range of one field and raises one WeightFileError naming the file, the layer, the
field, what was found and what to do.  Arrays are checked from their npz header (dtype and
shape against what the layer's json fields imply) before their data is read, so a
mislabelled or oversized member is refused without loading it.
"""
from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import WeightFileError

FIX = "fix the file, or convert the paper's .pkl again (tvm-tinytrain convert-weights)"
MAX_JSON_BYTES = 16 << 20  # the paper's descriptions are ~50 KB
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _found(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'} ({json.dumps(value)[:40]})"
    return f"{value!r:.40}"


def join(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


class BackboneFile:
    """The json description and the npz arrays of one backbone."""

    def __init__(self, json_path: Path):
        self.path = json_path
        self.npz_path = json_path.with_suffix(".npz")
        self.spec = self._read_json()
        if not self.npz_path.is_file():
            raise WeightFileError(f"{self.npz_path} is missing (the arrays of {json_path.name}); keep the .npz "
                                  f"beside its .json, or {FIX[0].lower() + FIX[1:]}")
        try:
            self.zip = zipfile.ZipFile(self.npz_path)
        except _NPZ_ERRORS as err:
            raise WeightFileError(f"{self.npz_path}: not a readable npz file ({err}); {FIX}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def _read_json(self):
        try:
            if self.path.stat().st_size > MAX_JSON_BYTES:
                raise WeightFileError(f"{self.path}: {self.path.stat().st_size:,} bytes, larger than any model "
                                      f"description ({MAX_JSON_BYTES:,} at most); {FIX}")
            spec = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            detail = "nested too deeply" if isinstance(err, RecursionError) else err
            raise WeightFileError(f"{self.path}: not a readable JSON model description ({detail}); {FIX}") from None
        if not isinstance(spec, dict):
            raise WeightFileError(f"{self.path}: expected a JSON object at the top level, found {_found(spec)}; {FIX}")
        return spec

    def error(self, where: str, problem: str) -> WeightFileError:
        return WeightFileError(f"{self.path}: {where} {problem}; {FIX}")

    def obj(self, value, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(where, f"is {_found(value)}, expected an object")
        return value

    def field(self, obj: dict, key: str, where: str):
        if key not in self.obj(obj, where):
            raise self.error(join(where, key), "is missing")
        return obj[key]

    def integer(self, obj: dict, key: str, where: str, lo: int, hi: int) -> int:
        value = self.field(obj, key, where)
        if type(value) is not int or not lo <= value <= hi:
            expected = f"an integer in {lo}..{hi}" if lo < hi else f"{lo}"
            raise self.error(join(where, key), f"is {_found(value)}, expected {expected}")
        return value

    def scale(self, obj: dict, key: str, where: str) -> float:
        value = self.field(obj, key, where)
        if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
            raise self.error(join(where, key), f"is {_found(value)}, expected a positive finite number")
        return float(value)

    def zero(self, obj: dict, key: str, where: str) -> int:
        return self.integer(obj, key, where, -128, 127)

    def array(self, obj: dict, key: str, where: str, dtype: str, shape: tuple, why: str) -> np.ndarray:
        """The npz array of placeholder `obj[key]`; it must be `dtype` of `shape` (`why` says whence)."""
        name = join(where, key)
        placeholder = self.obj(self.field(obj, key, where), name)
        member = placeholder.get("__array__")
        if type(member) is not str:
            raise self.error(name, f"has __array__ {_found(member)}, expected the name of an array in "
                                   f"{self.npz_path.name}")
        declared = (placeholder.get("dtype", dtype), placeholder.get("shape", list(shape)))
        if declared != (dtype, list(shape)):
            raise self.error(name, f"is declared {declared[0]}{declared[1]}, expected {dtype}{list(shape)} ({why})")
        try:
            with self.zip.open(member + ".npy") as fp:
                found = _npy_header(fp)
            if found != (np.dtype(dtype), tuple(shape)):
                raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is {found[0]}{list(found[1])}, "
                                      f"expected {dtype}{list(shape)} ({why}); {FIX}")
            with self.zip.open(member + ".npy") as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except KeyError:
            raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is missing; {FIX}") from None
        except _NPZ_ERRORS as err:
            raise WeightFileError(f"{self.npz_path}: array {member!r} ({name}) is corrupt ({err}); {FIX}") from None


def _npy_header(fp) -> tuple:
    """(dtype, shape) of a .npy stream, from its header only."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version} (this reader takes 1.0 and 2.0)")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    return dtype, tuple(shape)
