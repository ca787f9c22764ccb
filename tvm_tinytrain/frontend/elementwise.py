"""Find the elementwise activations of a Relax module, however the importer spelled them.

TVM's importers give Sigmoid, Tanh and LeakyReLU as Relax ops but decompose others: torch's
Hardswish arrives as `x * clip(x + 3, 0, 6) / 6`, SiLU as `x * sigmoid(x)`, ONNX's HardSigmoid
as `clip(alpha x + beta, 0, 1)`.  Rather than one pattern per importer and version, a chain of
elementwise ops that reads one tensor `x` (scalar-constant arithmetic, clip, the unary
activations, and products of two such chains of the same `x`) is evaluated on probe points and
named by comparing it with each function of quantization/lut.py; a match becomes one `lut`
layer.  A chain of clips alone (ReLU / ReLU6) or of affine ops alone (bias adds) is left to
to_graph's handlers, as is anything unmatched (reported as unsupported there).
"""
from __future__ import annotations

import numpy as np

from .._tvm import op_name, relax
from ..passes.relax_utils import constant_value
from ..quantization.lut import FUNCTIONS, _sigmoid

_PROBE = np.linspace(-10.0, 10.0, 4001)
_AFFINE = {"relax.add": np.add, "relax.subtract": np.subtract, "relax.multiply": np.multiply,
           "relax.divide": np.divide}
_UNARY = {"relax.sigmoid": lambda v, call: _sigmoid(v), "relax.tanh": lambda v, call: np.tanh(v),
          "relax.nn.silu": lambda v, call: v * _sigmoid(v),
          "relax.nn.leakyrelu": lambda v, call: np.where(v > 0, v, float(call.attrs.alpha) * v)}


def find_activations(func, params, binds, uses) -> dict:
    """{end var: (root var, fn, alpha, member vars)} for every chain that is one known function."""
    root, value, nonlinear, alpha = {}, {}, {}, {}
    for var, call in binds.items():
        if not isinstance(call, relax.Call):
            continue
        found = _step(call, params, binds, root, value)
        if found is None:
            continue
        r, fn_value, kind, a = found
        root[var], value[var] = r, fn_value
        nonlinear[var] = kind | set().union(*(nonlinear.get(arg, set()) for arg in _vars(call)))
        alpha[var] = a if a is not None else next((alpha[v] for v in _vars(call) if alpha.get(v) is not None), None)
    members: dict = {}
    for var, r in root.items():
        members.setdefault(r, []).append(var)
    chains = {}
    for r, chain in members.items():
        inside = set(chain)
        ends = [v for v in chain if not _uses_within(v, inside, binds, uses)]
        if len(ends) != 1 or not ends[0].same_as(chain[-1]):
            continue
        end = ends[0]
        kinds = nonlinear[end]
        if kinds <= {"clip"} or kinds <= {"affine"}:  # ReLU / ReLU6, bias adds: to_graph's handlers
            continue
        a = alpha[end] or 0.0
        for fn, spec in FUNCTIONS.items():
            if np.allclose(value[end](_PROBE), spec.f(_PROBE, a), rtol=1e-5, atol=1e-5):
                chains[end] = (r, fn, float(a), tuple(chain))
                break
    return chains


def _vars(call):
    return [a for a in call.args if isinstance(a, relax.Var)]


def _uses_within(var, inside, binds, uses) -> bool:
    """Every use of `var` is a binding of the chain."""
    readers = [v for v in inside if isinstance(binds[v], relax.Call) and any(a.same_as(var) for a in _vars(binds[v]))]
    return len(readers) == uses.get(var, 0) and uses.get(var, 0) > 0


def _step(call, params, binds, root, value):
    """(root, f of the root's values, nonlinear kinds, alpha) if `call` continues a chain, else None."""
    name = op_name(call)
    args = [a for a in _vars(call) if constant_value(a, params, binds)[0] is None]

    def of(arg):
        return (root[arg], value[arg]) if arg in root else (arg, lambda v: v)

    if name in _UNARY and len(args) == 1:
        r, f = of(args[0])
        alpha = float(call.attrs.alpha) if name == "relax.nn.leakyrelu" else None
        return r, (lambda v: _UNARY[name](f(v), call)), {name}, alpha
    if name == "relax.clip" and len(args) == 1:
        r, f = of(args[0])
        lo, hi = (float(v.value) for v in call.args[1:3])
        return r, (lambda v: np.clip(f(v), lo, hi)), {"clip"}, None
    if name not in _AFFINE or len(call.args) != 2:
        return None
    if len(args) == 2 and name == "relax.multiply" and len(call.args) == 2:
        (ra, fa), (rb, fb) = of(args[0]), of(args[1])
        if not ra.same_as(rb):
            return None
        return ra, (lambda v: fa(v) * fb(v)), {"product"}, None
    consts = [constant_value(a, params, binds)[0] for a in call.args]
    if len(args) != 1 or sum(c is not None for c in consts) != 1:
        return None
    c = next(c for c in consts if c is not None)
    if c.size != 1 or c.ndim > 1:
        return None
    c = float(c.reshape(()))
    r, f = of(args[0])
    op = _AFFINE[name]
    fn = (lambda v: op(f(v), c)) if consts[1] is not None else (lambda v: op(c, f(v)))
    return r, fn, {"affine"}, None
