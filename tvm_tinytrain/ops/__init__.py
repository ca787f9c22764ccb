"""tt ops: the units of int8 training graphs.

Every layer-level operation of a tvm-tinytrain Relax module is one call of a small private
Relax function tagged with the attribute `tt.op` (e.g. `conv2d_s8`, `conv2d_grad_weight`,
`sgd_s8`) plus its static attributes (`tt.stride`, `tt.x_zero`, ...).  The function body
is made of primitive Relax ops, so TVM builds and runs the module for llvm (the oracle);
the passes reason about whole ops (gradient rules, liveness, scheduling) and the C
codegen maps each `tt.op` to one kernel.

Each op is one `OpRecord` (registry.py), declared beside its builder `fn(fb, args, attrs) ->
expr` in its family module: builder, gradient rule, C call, in-place behaviour, scratch size,
kernel files.  `call` wraps the builder into a function and emits the call in the caller's
block.  Tensors that the kernel reads (weights, multipliers, scales) are arguments, scalars
are attributes.
"""
from __future__ import annotations

import re

from .._tvm import object_key, relax

OPS: dict = {}  # name -> builder, filled from the op records (registry.declare)
ATTR_PREFIX = "tt."


def call(bb, name: str, args, attrs: dict | None = None, label: str = "", role: str = ""):
    """Emit `label_role = tt_<name>_<label>(*args)` into `bb`'s current block."""
    attrs = dict(attrs or {})
    base = _sanitize(f"tt_{name}_{label}" if label else f"tt_{name}")
    fname = _unique(bb, base)
    params = [relax.Var(f"arg{i}", arg.ty) for i, arg in enumerate(args)]
    fb = relax.BlockBuilder()
    func_attrs = {ATTR_PREFIX + "op": name, ATTR_PREFIX + "layer": label,
                  **{ATTR_PREFIX + k: v for k, v in attrs.items()}}
    with fb.function(fname, params, attrs=func_attrs, private=True):
        with fb.dataflow():
            out = fb.emit_output(OPS[name](fb, params, attrs))
        fb.emit_func_output(out)
    gv = bb.add_func(fb.get()[fname], fname)
    return bb.emit(relax.Call(gv, list(args)), name_hint=_sanitize(f"{label}_{role or name}"))


def tt_op_of(mod, value):
    """(op name, {attr: value}) if `value` is a call of a tt op function in `mod`, else None."""
    if not isinstance(value, relax.Call) or not isinstance(value.op, relax.GlobalVar):
        return None
    func_attrs = mod[value.op].attrs
    if func_attrs is None:
        return None
    key = object_key(func_attrs)
    if key not in _SEEN:
        if len(_SEEN) >= _SEEN_LIMIT:
            _SEEN.clear()
        _SEEN[key] = func_attrs, _tt_attrs(func_attrs)
    found = _SEEN[key][1]
    return None if found is None else (found[0], _copy(found[1]))


# The passes read every op's attributes many times (the budget loop builds a program per candidate layer), and
# converting TVM's containers is most of their time: each function's attributes are converted once, kept by the
# attribute object (held here, so its address names it alone while its entry lives).
_SEEN: dict = {}
_SEEN_LIMIT = 100_000


def _tt_attrs(func_attrs):
    if ATTR_PREFIX + "op" not in func_attrs:
        return None
    attrs = {k[len(ATTR_PREFIX):]: _kept(_py(v)) for k, v in func_attrs.items() if k.startswith(ATTR_PREFIX)}
    return attrs.pop("op"), attrs


def _kept(value):
    """A converted value as the cache keeps it: a list of scalars as a tuple (copied back fast), never handed out."""
    if isinstance(value, dict):
        return {k: _kept(v) for k, v in value.items()}
    if isinstance(value, list):
        nested = any(isinstance(v, (list, dict)) for v in value)
        return [_kept(v) for v in value] if nested else tuple(value)
    return value


def _copy(value):
    """The caller's own copy of a kept value: dicts, lists and scalars, as _py gave them."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _py(value):
    """TVM attr value -> plain Python (int, float, str, list)."""
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "items"):
        return {str(k): _py(v) for k, v in value.items()}
    try:
        return [_py(v) for v in value]
    except TypeError:
        return value


def _sanitize(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _unique(bb, base: str) -> str:
    existing = {gv.name_hint for gv in bb.get().get_global_vars()}
    name, n = base, 1
    while name in existing:
        n += 1
        name = f"{base}_{n}"
    return name


# Declare the op families' records.
from . import forward, loss, backward, update, fused, expansion_backward, lut, concat, mul  # noqa: E402,F401
