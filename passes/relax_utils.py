"""Small readers of a Relax function shared by the passes: bindings, uses, constant values."""
from __future__ import annotations

import numpy as np

from tvm_tinytrain._tvm import Constant, op_name, relax


def bindings_of(func) -> dict:
    """Var -> bound value for every binding in the function body (all blocks)."""
    out = {}
    for block in func.body.blocks:
        for binding in block.bindings:
            out[binding.var] = binding.value
    return out


def use_counts(func) -> dict:
    """Var -> how many times it is used as an operand (the function result counts as a use)."""
    counts: dict = {}

    def visit(expr):
        if isinstance(expr, relax.Var):
            counts[expr] = counts.get(expr, 0) + 1
        elif isinstance(expr, relax.Call):
            for arg in expr.args:
                visit(arg)
        elif isinstance(expr, relax.Tuple):
            for field in expr.fields:
                visit(field)
        elif isinstance(expr, relax.TupleGetItem):
            visit(expr.tuple_value)

    for value in bindings_of(func).values():
        visit(value)
    visit(func.body.body)
    return counts


def constant_value(expr, params: dict, binds: dict):
    """numpy value of a parameter, a constant, or a reshape/permute of one; None otherwise.

    Returns (value, base) where base is the parameter Var the value comes from (or None
    for a literal constant).
    """
    if isinstance(expr, Constant):
        return expr.value.numpy(), None
    if isinstance(expr, relax.Var):
        if expr.name in params and expr not in binds:
            return np.asarray(params[expr.name]), expr
        if expr in binds:
            return constant_value(binds[expr], params, binds)
        return None, None
    if isinstance(expr, relax.Call) and op_name(expr) in ("relax.reshape", "relax.permute_dims"):
        value, base = constant_value(expr.args[0], params, binds)
        if value is None:
            return None, None
        if op_name(expr) == "relax.reshape":
            return value.reshape([int(s) for s in expr.ty.shape]), base
        axes = expr.attrs.axes
        return np.transpose(value, None if axes is None else [int(a) for a in axes]), base
    return None, None


def replace_params(func, new_params: list, body=None):
    """The same function with another parameter list (and optionally body), attrs kept."""
    return relax.Function(new_params, func.body if body is None else body, func.ret_ty, func.is_pure, func.attrs)
