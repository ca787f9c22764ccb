"""The kernel library's C signatures as ctypes, read from tt_kernels.h: the one declaration of
every kernel, so the ctypes tests and the scratch check never copy a signature by hand.

Data pointers among a kernel's arguments become c_void_p (a numpy array's `.ctypes.data`,
`data_as(...)`, `byref(struct)` or None all pass); the header's structs become ctypes
Structures of the same fields (pointer fields typed, e.g. POINTER(c_int8)).
"""
from __future__ import annotations

import ctypes
import re
from functools import lru_cache

from tvm_tinytrain.errors import TinyTrainError

from .host_build import KERNEL_DIR, kernel_library

SCALARS = {"int": ctypes.c_int, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "float": ctypes.c_float,
           "uint8_t": ctypes.c_uint8, "int8_t": ctypes.c_int8}
_STRUCT = re.compile(r"typedef struct \{(.*?)\}\s*(\w+);", re.S)
_PROTO = re.compile(r"^(int|int32_t|float|void)\s+(tt_\w+)\(([^;]*?)\);", re.S | re.M)


def _header() -> str:
    return re.sub(r"/\*.*?\*/", "", (KERNEL_DIR / "tt_kernels.h").read_text(), flags=re.S)


def _ctype(decl: str, structs: dict):
    """ctypes type of a C declaration without its name ('const int8_t *', 'tt_dims')."""
    if "*" in decl:
        return ctypes.c_void_p
    base = decl.replace("const", "").strip()
    if base in SCALARS:
        return SCALARS[base]
    if base in structs:
        return structs[base]
    raise TinyTrainError(f"kernel_abi: tt_kernels.h type {decl!r} has no ctypes mapping; add it to SCALARS")


@lru_cache(maxsize=None)
def structs() -> dict:
    """{C struct name: ctypes.Structure} of the header's typedefs."""
    out: dict = {}
    for body, name in _STRUCT.findall(_header()):
        fields = []
        for line in filter(None, (part.strip() for part in body.split(";"))):
            kind, names = re.match(r"((?:const\s+)?\w+\s*\**)\s*(.*)", line).groups()
            base = kind.replace("const", "").strip(" *")
            for field in names.split(","):
                pointer = "*" in field or "*" in kind  # a typed pointer: numpy `data_as` fits it
                fields.append((field.strip(" *"), ctypes.POINTER(_ctype(base, out)) if pointer else _ctype(base, out)))
        out[name] = type(name, (ctypes.Structure,), {"_fields_": fields})
    return out


def _declarations() -> dict:
    """{kernel name: (return type, [parameter declarations without their names])} of tt_kernels.h."""
    return {name: (ret, [re.sub(r"\w+$", "", p).strip() for p in " ".join(params.split()).split(",") if p.strip()])
            for ret, name, params in _PROTO.findall(_header())}


@lru_cache(maxsize=None)
def signatures() -> dict:
    """{kernel name: (restype, [argtypes])} of every function tt_kernels.h declares."""
    types = structs()
    return {name: (None if ret == "void" else SCALARS[ret], [_ctype(decl, types) for decl in decls])
            for name, (ret, decls) in _declarations().items()}


@lru_cache(maxsize=None)
def pointees() -> dict:
    """{kernel name: [the struct a pointer parameter points to, else None]}: a dict argument of `call`
    becomes that struct (two structs may share field names: tt_pool_params and tt_conv_layer's kh)."""
    types = structs()
    return {name: [base if "*" in decl and (base := decl.replace("const", "").strip(" *")) in types else None
                   for decl in decls] for name, (_, decls) in _declarations().items()}


def typed(library: ctypes.CDLL | None = None) -> ctypes.CDLL:
    """`library` (default: the host kernel library) with every kernel's argtypes and restype set."""
    library = kernel_library() if library is None else library
    for name, (restype, argtypes) in signatures().items():
        if hasattr(library, name):
            fn = getattr(library, name)
            fn.restype, fn.argtypes = restype, argtypes
    return library


def call(name: str, *values, library: ctypes.CDLL | None = None):
    """Call kernel `name` of the host library with plain values: a tuple for a struct passed by value
    (tt_dims (c, h, w)), a dict of fields for a struct passed by pointer (nested structs as tuples)."""
    restype, argtypes = signatures()[name]
    fn = getattr(kernel_library() if library is None else library, name)
    fn.restype, fn.argtypes = restype, argtypes
    return fn(*(_convert(v, t, s) for v, t, s in zip(values, argtypes, pointees()[name], strict=True)))


def _convert(value, argtype, pointee):
    if isinstance(value, tuple):
        return argtype(*value)
    if isinstance(value, dict):  # by pointer: the header's struct the parameter points to
        struct = structs()[pointee]
        fields = dict(struct._fields_)
        return ctypes.byref(struct(**{k: fields[k](*v) if isinstance(v, tuple) else v for k, v in value.items()}))
    return value
