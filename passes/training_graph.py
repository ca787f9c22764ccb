"""Readers shared by the training passes: the tt-op bindings of `main` and its parameters."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from tvm_tinytrain._tvm import relax
from tvm_tinytrain.ops import tt_op_of


@dataclass
class OpBinding:
    var: object        # the bound Var
    call: object       # the relax.Call
    op: str            # tt op name
    attrs: dict        # tt attributes (without the "tt." prefix)

    @cached_property
    def args(self):
        """The call's arguments (a list of their own: converting TVM's array each time cost the budget loop)."""
        return list(self.call.args)

    @property
    def layer(self) -> str:
        return self.attrs.get("layer", "")


def op_bindings(mod) -> list[OpBinding]:
    """Every tt op call of main, in order; the output plumbing (tuples, aliases) is skipped,
    any other binding raises."""
    out = []
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            if isinstance(binding.value, (relax.Var, relax.Tuple)):
                continue
            found = tt_op_of(mod, binding.value)
            if found is None:
                raise ValueError(f"binding {binding.var.name} of main is not a tt op call")
            out.append(OpBinding(binding.var, binding.value, *found))
    return out


def params_by_name(mod) -> dict:
    return {p.name: p for p in mod["main"].params}


def result_fields(mod) -> list:
    """The vars main returns (a tuple's fields, or the single var)."""
    func = mod["main"]
    binds = {b.var: b.value for block in func.body.blocks for b in block.bindings}
    result = func.body.body
    while isinstance(binds.get(result), relax.Var):
        result = binds[result]
    value = binds.get(result, result)
    fields = list(value.fields) if isinstance(value, relax.Tuple) else [result]
    return [_unalias(f, binds) for f in fields]


def _unalias(var, binds):
    while isinstance(binds.get(var), relax.Var):
        var = binds[var]
    return var


def rewrite_main(mod, params: list, emit, attrs: dict | None = None):
    """A module whose `main` is rebuilt: `emit(bb)` emits the body into a dataflow block
    and returns the result expression; the tt op functions of `mod` stay available."""
    import tvm

    kept = {gv: func for gv, func in mod.functions_items() if gv.name_hint != "main"}
    bb = relax.BlockBuilder(tvm.IRModule(kept))
    old_attrs = {k: v for k, v in (mod["main"].attrs or {}).items() if k != "global_symbol"}
    with bb.function("main", params, attrs={**old_attrs, **(attrs or {})}):
        with bb.dataflow():
            result = bb.emit_output(emit(bb))
        bb.emit_func_output(result)
    return bb.get()


def copy_binding(bb, binding: OpBinding, vmap: dict):
    """Re-emit a tt op call with its arguments mapped through `vmap` (old var -> new expr)."""
    args = [vmap.get(a, a) for a in binding.args]
    new = bb.emit(relax.Call(binding.call.op, args), name_hint=binding.var.name)
    vmap[binding.var] = new
    return new


def fuse_chains(mod, plan: dict, fused_call):
    """The skeleton of a fusion pass: main rebuilt with every binding whose var is a key of
    `plan` replaced by `fused_call(bb, binding, chain, vmap)` (its new expr) and the bindings of
    its chain (`plan[var]`, a list) dropped; everything else copied.  No plan: `mod` unchanged."""
    if not plan:
        return mod
    bindings = op_bindings(mod)
    absorbed = {c.var for chain in plan.values() for c in chain}

    def emit(bb):
        vmap = {}
        for b in bindings:
            if b.var in plan:
                vmap[b.var] = fused_call(bb, b, plan[b.var], vmap)
            elif b.var not in absorbed:
                copy_binding(bb, b, vmap)
        return result_expr(mod, vmap)

    return rewrite_main(mod, list(mod["main"].params), emit)


def tt_attrs(binding: OpBinding) -> dict:
    """A binding's tt attributes without its layer name: how a fused op keeps each part's."""
    return {k: v for k, v in binding.attrs.items() if k != "layer"}


def main_attr(mod, key: str, default=None):
    attrs = mod["main"].attrs
    if attrs is None or key not in attrs:
        return default
    from tvm_tinytrain.ops import _py

    return _py(attrs[key])


def result_expr(mod, vmap: dict):
    """main's result rebuilt from `vmap` (old var -> new expr): a tuple of its fields, or the one var."""
    results = [vmap.get(v, v) for v in result_fields(mod)]
    return relax.Tuple(results) if len(results) > 1 or _returns_tuple(mod) else results[0]


def _returns_tuple(mod) -> bool:
    func = mod["main"]
    binds = {b.var: b.value for block in func.body.blocks for b in block.bindings}
    result = func.body.body
    while isinstance(binds.get(result), relax.Var):
        result = binds[result]
    return isinstance(binds.get(result, result), relax.Tuple)
