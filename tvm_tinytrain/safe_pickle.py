"""Read a pickle of numpy arrays and plain containers, admitting nothing else, sizes checked first.

Why: a pickle is a small program.  Loaded with the ordinary unpickler it can call anything
(``os.system``); even numpy's own callables are unsafe with a hostile file's arguments
(``numpy.ndarray(shape)`` allocates any size and returns uninitialised memory;
``_reconstruct(ndarray, shape, ...)`` without its state does the same).  What a real array
pickle needs (see ``pickletools.dis(pickle.dumps(np.arange(3)))``) is exactly:

* ``_reconstruct(ndarray, (0,), b'b')`` followed by BUILD with the state
  ``(1, shape, dtype, is_fortran, raw_bytes)``, or protocol 5's ``_frombuffer(buf, dtype,
  shape, order)``; ``scalar(dtype, raw_bytes)`` for numpy scalars;
* ``dtype(code, False, True)`` followed by BUILD with ``(3, byteorder, None, None, None, -1,
  -1, 0)``; ``_codecs.encode(text, 'latin1')`` (how protocol 2 stores bytes); ``OrderedDict()``.

Each admitted global is a wrapper here that checks its arguments and builds the value from
validated bytes (plain numeric / bool dtypes only, shapes non-negative, the raw bytes exactly
the shape's size, every array and the total under a byte cap before anything is allocated);
numpy's callables are never reachable from the file, and every object it can reach is `Sealed`
(a BUILD state is refused unless the object defines one).  Before the unpickler runs, the opcodes
are scanned (``pickletools.genops``): a length prefix larger than the data left is refused
there, so the unpickler never pre-allocates what the file merely claims.
"""
from __future__ import annotations

import io
import math
import pickle
import pickletools

import numpy as np

MAX_ARRAY_BYTES = 256 << 20   # one array
MAX_TOTAL_BYTES = 1 << 30     # every array of one file together
MAX_DIMS = 32
MAX_OPCODES = 10_000_000      # a real backbone pickle has ~6,000; this scans in ~2 s
DTYPE_CODES = frozenset({"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16"})
# Opcodes that build objects through class constructors, extension codes or out-of-band buffers:
# a numpy pickle never uses them.
REFUSED_OPCODES = frozenset({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4",
                             "NEXT_BUFFER", "READONLY_BUFFER"})


class Refused(Exception):
    """A construction the file asked for that is not admitted; the message says which and why."""


class TooLarge(Refused):
    """An array, the arrays together or the pickle itself beyond a cap (checked before allocating)."""


class NotPickle(Exception):
    """The bytes are not a complete, well-formed pickle (truncated, garbled)."""


class Sealed:
    """Base of every object the file can get hold of.  BUILD is a pickle's way to set attributes
    (on classes and functions too); here it is refused unless a subclass says what its state is."""

    __slots__ = ()
    kind = "object"

    def __setstate__(self, state):
        raise Refused(f"a state (BUILD) for {self.kind}")


class Global(Sealed):
    """What the unpickler returns for an admitted name: calls its wrapper, nothing else."""

    __slots__ = ("kind", "func")

    def __init__(self, name: str, func):
        self.kind = f"{name} (a callable)"
        self.func = func

    def __call__(self, *args):
        return self.func(*args)


def _refuse_ndarray(*args):
    raise Refused("a direct call of numpy.ndarray(...) (it allocates any shape and returns uninitialised or "
                  "foreign memory; only numpy's own array form, _reconstruct + its state, is admitted)")


NDARRAY = Global("numpy.ndarray", _refuse_ndarray)  # only ever an argument of _reconstruct


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise Refused(f"_codecs.encode(..., {encoding!r:.40}); only latin1 text (how protocol 2 stores bytes) "
                      f"is admitted")
    return text.encode("latin1")


def _ordered_dict(*args):
    if args:
        raise Refused("OrderedDict called with arguments; a pickled OrderedDict is OrderedDict() then its items")
    return {}  # a dict keeps insertion order; it also accepts no BUILD state


class Unadmitted(Sealed):
    """An array or scalar of a dtype that is not admitted, built from nothing; the converter names
    its key path.  (Object arrays carry a list of objects as data, strings are not weights.)"""

    __slots__ = ("kind", "dtype")

    def __init__(self, kind: str, code):
        self.kind = kind
        self.dtype = "object (Python objects)" if str(code).startswith("O") else f"{code!r:.40}"


class Dtype(Sealed):
    """``numpy.dtype(code, False, True)`` of the file; its BUILD state may only set the byte order.

    An unadmitted code gives ``dtype = None``: what is built from it becomes `Unadmitted`."""

    __slots__ = ("code", "dtype", "built")
    kind = "numpy.dtype"

    def __init__(self, code, align=False, copy=True):
        if align is not False or copy is not True:
            raise Refused(f"numpy.dtype({code!r:.40}, {align!r:.20}, {copy!r:.20}); numpy pickles "
                          f"dtype(code, False, True)")
        self.code = code
        self.dtype = np.dtype(code) if type(code) is str and code in DTYPE_CODES else None
        self.built = False

    def __setstate__(self, state):
        if self.dtype is None:
            return  # nothing will be built from it
        if (self.built or not isinstance(state, tuple) or len(state) != 8 or state[0] != 3
                or state[1] not in ("<", ">", "|", "=") or state[2:] != (None, None, None, -1, -1, 0)):
            raise Refused(f"dtype state {state!r:.80}; only a byte order (3, '<'|'>'|'|'|'=', None, None, None, "
                          f"-1, -1, 0) is admitted")
        self.built = True
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def _as_dtype(value, what) -> Dtype:
    if not isinstance(value, Dtype):
        raise Refused(f"{what} with dtype {type(value).__name__}; expected a numpy.dtype of the file")
    return value


class Value(Sealed):
    """An array or numpy scalar a wrapper built (``value``), or `Unadmitted`."""

    __slots__ = ("value",)
    kind = "a numpy value"

    def __init__(self, value=None):
        self.value = value


def _scalar(dtype, data=None):
    dtype = _as_dtype(dtype, "numpy scalar")
    if dtype.dtype is None:
        return Unadmitted("numpy scalar", dtype.code)
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise Refused(f"numpy scalar of {dtype.dtype} from {type(data).__name__} data; expected exactly "
                      f"{dtype.dtype.itemsize} bytes")
    return Value(np.frombuffer(data, dtype.dtype)[0])


class _Budget:
    """Bytes of arrays one load has built; every array is charged before it is allocated."""

    def __init__(self):
        self.total = 0

    def array(self, raw, dtype: Dtype, shape, fortran, what):
        """The array of ``raw`` bytes, or `Unadmitted` for an unadmitted dtype (its data unread)."""
        if dtype.dtype is None:
            return Unadmitted(what, dtype.code)
        dtype = dtype.dtype
        if not (isinstance(shape, tuple) and len(shape) <= MAX_DIMS
                and all(type(n) is int and n >= 0 for n in shape)):
            raise Refused(f"{what} with shape {shape!r:.80}; expected a tuple of at most {MAX_DIMS} "
                          f"non-negative integers")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES:
            raise TooLarge(f"{what} of shape {shape} {dtype} ({nbytes:,} bytes); arrays are limited to "
                           f"{MAX_ARRAY_BYTES:,} bytes")
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != nbytes:
            length = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
            raise Refused(f"{what} of shape {shape} {dtype} with {length} bytes of data; its data must be "
                          f"exactly {nbytes} bytes")
        if self.total + nbytes > MAX_TOTAL_BYTES:
            raise TooLarge(f"{what} beyond the total of {MAX_TOTAL_BYTES:,} bytes of arrays in one file")
        self.total += nbytes
        return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C").copy(order="K")

    def reconstruct(self, subtype, shape, code):
        if subtype is not NDARRAY or shape != (0,) or code != b"b":
            kind = "ndarray" if subtype is NDARRAY else type(subtype).__name__
            raise Refused(f"_reconstruct({kind}, {shape!r:.40}, {code!r:.20}) (without its state it returns "
                          f"uninitialised memory); only numpy's own form _reconstruct(ndarray, (0,), b'b') is admitted")
        return PendingArray(self)

    def frombuffer(self, buf, dtype, shape, order):
        if order not in ("C", "F"):
            raise Refused(f"_frombuffer with order {order!r:.20}")
        built = self.array(buf, _as_dtype(dtype, "_frombuffer"), shape, order == "F", "_frombuffer array")
        return built if isinstance(built, Unadmitted) else Value(built)


class PendingArray(Value):
    """An array from ``_reconstruct``: no value until its BUILD state gives shape, dtype and data."""

    __slots__ = ("budget",)
    kind = "an array"

    def __init__(self, budget: _Budget):
        super().__init__()
        self.budget = budget

    def __setstate__(self, state):
        if self.value is not None:
            raise Refused("a second state for one array")
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and type(state[3]) is bool):
            raise Refused(f"array state {state!r:.80}; expected (1, shape, dtype, is_fortran, data)")
        _, shape, dtype, fortran, raw = state
        self.value = self.budget.array(raw, _as_dtype(dtype, "array"), shape, fortran, "array")


def _globals(budget: _Budget) -> dict:
    """(module, name) -> the wrapper a pickle may call under that name."""
    table = {("numpy", "ndarray"): NDARRAY, ("numpy", "dtype"): Global("numpy.dtype", Dtype),
             ("collections", "OrderedDict"): Global("collections.OrderedDict", _ordered_dict),
             ("_codecs", "encode"): Global("_codecs.encode", _latin1_encode)}
    for mod in ("numpy.core", "numpy._core"):
        table[(f"{mod}.multiarray", "_reconstruct")] = Global("_reconstruct", budget.reconstruct)
        table[(f"{mod}.multiarray", "scalar")] = Global("numpy scalar", _scalar)
        table[(f"{mod}.numeric", "_frombuffer")] = Global("_frombuffer", budget.frombuffer)  # protocol 5
    return table


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, table):
        super().__init__(stream)
        self._table = table

    def find_class(self, module, name):
        try:
            return self._table[(module, name)]
        except KeyError:
            raise Refused(f"global '{module}.{name}'") from None

    def persistent_load(self, pid):
        raise Refused(f"persistent id {str(pid)[:80]!r} (a torch storage)")


def _scan(data: bytes, start: int) -> int:
    """Check the opcodes of the pickle at ``start``; return where it ends (after STOP)."""
    stream = io.BytesIO(data)
    stream.seek(start)
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(stream)):
            if count >= MAX_OPCODES:
                raise TooLarge(f"a pickle of more than {MAX_OPCODES:,} opcodes")
            if op.name in REFUSED_OPCODES:
                raise Refused(f"pickle opcode {op.name} at byte {pos}")
            if op.name == "FRAME" and arg > len(data) - stream.tell():
                raise NotPickle(f"frame of {arg} bytes at byte {pos} runs past the end")
    except ValueError as err:  # genops: truncated argument, unknown opcode, no STOP
        raise NotPickle(str(err)) from None
    return stream.tell()


class Loader:
    """Successive pickles of one byte string (a torch legacy file holds several), one budget."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self._table = _globals(_Budget())

    def load(self):
        """The next object; Refused for a construction not admitted, NotPickle for malformed bytes."""
        end = _scan(self.data, self.pos)
        chunk = self.data if (self.pos, end) == (0, len(self.data)) else self.data[self.pos:end]
        self.pos = end
        try:
            return _Unpickler(io.BytesIO(chunk), self._table).load()
        except (Refused, NotPickle):
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, MemoryError, OverflowError) as err:
            raise NotPickle(f"{type(err).__name__}: {err}") from None
