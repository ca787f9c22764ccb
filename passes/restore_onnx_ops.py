"""restore_onnx_ops: turn the ONNX importer's `call_tir`s back into Relax operators.

TVM's ONNX importer lowers some ONNX ops (Clip among them) straight to TIR PrimFuncs
called through `R.call_tir`.  A call_tir is opaque: it has no gradient and no layer
meaning.  This pass puts the Relax operator back.

Needs:      the scalar operands of those calls are constants (bind and fold the
            importer's scalar parameters first; `frontend/onnx.py` does).
Guarantees: `call_tir(maximum, (x, c))` -> `R.clip(x, c, +inf)`, `call_tir(minimum, (x, c))`
            -> `R.clip(x, -inf, c)`, and a maximum followed by a minimum (ONNX Clip) -> one
            `R.clip(x, lo, hi)`; element-wise maximum/minimum of two tensors -> `R.maximum` /
            `R.minimum`.  Any other call_tir raises UnsupportedOpError naming the PrimFunc
            and the binding.  Unreferenced PrimFuncs are removed.

    before:  lv5 = R.call_tir(cls.maximum, (lv4, c0))       after:  lv8 = R.clip(lv4, 0, 6)
             lv8 = R.call_tir(cls.minimum, (lv5, c6))
"""
from __future__ import annotations

import math
import re

from tvm_tinytrain._tvm import Constant, PyExprMutator, clone_module, mutator, op_name, relax
from tvm_tinytrain.errors import UnsupportedOpError

from .relax_utils import bindings_of, use_counts


def restore_onnx_ops(mod):
    func = mod["main"]
    # Check before mutating: an exception raised inside the mutator's callbacks crosses TVM's
    # FFI and comes back as a plain RuntimeError, losing the UnsupportedOpError type.
    for var, value in bindings_of(func).items():
        if isinstance(value, relax.Call) and op_name(value) == "relax.call_tir":
            _check_prim(value, var)
    restorer = _Restorer(mod, use_counts(func))
    body = restorer.visit_expr(func.body)
    mod = clone_module(mod)
    mod["main"] = relax.analysis.remove_all_unused(
        relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs))
    return relax.transform.DeadCodeElimination(["main"])(mod)


def _check_prim(call, var) -> str:
    """The PrimFunc's base name ('maximum' / 'minimum'); UnsupportedOpError for anything else."""
    prim = re.sub(r"[_0-9]+$", "", call.args[0].name_hint)
    if prim not in ("maximum", "minimum") or len(call.args[1].fields) != 2:
        raise UnsupportedOpError(f"restore_onnx_ops: the ONNX importer lowered an op to TIR PrimFunc "
                                 f"{call.args[0].name_hint!r} (binding {var.name}); it has no "
                                 f"Relax equivalent here and cannot be trained")
    return prim


def _scalar(expr):
    if isinstance(expr, Constant) and expr.value.numpy().size == 1:
        return float(expr.value.numpy().reshape(()))
    return None


@mutator
class _Restorer(PyExprMutator):
    def __init__(self, mod, uses):
        super().__init__(mod)
        self.uses = uses
        self.clips = {}  # emitted var -> (x, lo, hi), to merge max-then-min into one clip
        self.originals = {}  # emitted var -> the var it replaces (for its use count)

    def visit_var_binding_(self, binding):
        value = binding.value
        if not (isinstance(value, relax.Call) and op_name(value) == "relax.call_tir"):
            super().visit_var_binding_(binding)
            return
        prim = _check_prim(value, binding.var)
        operands = [self.visit_expr(a) for a in value.args[1].fields]
        x, other = operands
        c = _scalar(other)
        if c is None:
            op = relax.op.maximum if prim == "maximum" else relax.op.minimum
            new = self.builder_.emit(op(x, other), name_hint=binding.var.name)
        else:
            lo, hi = (c, math.inf) if prim == "maximum" else (-math.inf, c)
            inner = self.clips.get(x)
            if inner is not None and self.uses.get(self.originals[x], 0) <= 1:
                x, lo, hi = inner[0], max(lo, inner[1]), min(hi, inner[2])
            new = self.builder_.emit(relax.op.clip(x, lo, hi), name_hint=binding.var.name)
            self.clips[new] = (x, lo, hi)
        self.set_var_remap(binding.var, new)
        self.originals[new] = binding.var

