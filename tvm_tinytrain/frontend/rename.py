"""Rename the parameters of `main` (frontends name them after the source framework)."""
from tvm_tinytrain._tvm import PyExprMutator, clone_module, mutator, relax


def rename_params(mod, mapping: dict):
    """`mapping`: old parameter name -> new name; parameters not in it keep theirs."""
    func = mod["main"]
    renamer = _Renamer(mod)
    new_params = []
    for param in func.params:
        new_name = mapping.get(param.name, param.name)
        new_var = relax.Var(new_name, param.ty) if new_name != param.name else param
        renamer.set_var_remap(param, new_var)
        new_params.append(new_var)
    body = renamer.visit_expr(func.body)
    mod = clone_module(mod)
    mod["main"] = relax.Function(new_params, body, func.ret_ty, func.is_pure, func.attrs)
    return mod


@mutator
class _Renamer(PyExprMutator):
    """Applies the var remaps set before visiting."""
