"""Reading a JSON file a user gave us (a scheme, contribution results, ...): every way it can
be bad becomes one TinyTrainError naming the file and the fix, never a traceback.

Python's json module accepts what a user file should not: NaN and Infinity literals,
nesting deep enough to end in RecursionError, and files of any size.  `read_json` refuses
all three.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import TinyTrainError

MAX_BYTES = 16 << 20  # schemes and results files are kilobytes; refuse anything absurd before reading it


def _no_constants(name):
    raise ValueError(f"{name} is not a JSON number")


def read_json(path, what: str, fix: str, max_bytes: int = MAX_BYTES, top: type | None = dict):
    """The parsed content of `path`, described to the user as `what` ("scheme file x.json");
    `fix` ends every message (what the user should do).  `top` is the required top-level type."""
    path = Path(path)
    where = f"{what} {path}"
    if not path.exists():
        raise TinyTrainError(f"{where} does not exist; {fix}")
    if path.is_dir():
        raise TinyTrainError(f"{where} is a folder, not a file; {fix}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TinyTrainError(f"{where} is {size:,} bytes, more than the {max_bytes:,} such a file can be; {fix}")
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as err:
        raise TinyTrainError(f"{where} cannot be read ({err.strerror or err}); {fix}") from None
    if len(raw) > max_bytes:  # a file that grew, or a device
        raise TinyTrainError(f"{where} is more than {max_bytes:,} bytes; {fix}")
    if not raw.strip():
        raise TinyTrainError(f"{where} is empty; {fix}")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as err:
        raise TinyTrainError(f"{where} is not UTF-8 text (byte {err.start}); {fix}") from None
    except json.JSONDecodeError as err:
        raise TinyTrainError(f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}; "
                             f"{fix}") from None
    except ValueError as err:
        raise TinyTrainError(f"{where} is not valid JSON: {err}; {fix}") from None
    except RecursionError:
        raise TinyTrainError(f"{where} is nested too deeply to be a {what}; {fix}") from None
    if top is not None and not isinstance(value, top):
        kind = {dict: "a JSON object {...}", list: "a JSON array [...]"}.get(top, top.__name__)
        raise TinyTrainError(f"{where}: expected {kind} at the top level, found {_json_type(value)}; {fix}")
    return value


def _json_type(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
