"""fold_batchnorm: fold inference-mode batch norms into the conv2d / conv1d / linear before them.

Needs:      `main` in detached-params form (weights are function parameters whose values
            are in `params`, keyed by parameter name), batch norms with training=False.
Guarantees: every `nn.batch_norm(conv2d(x, W) [+ b])[0]` becomes `conv2d(x, W') + b'` (conv1d the
            same; a linear `matmul(x, permute_dims(W)) [+ b]`, i.e. BatchNorm1d after Linear, too);
            `params[W]` holds the folded weight, the bias parameter is `<conv>.bias`
            (the conv's own bias, updated, or a new parameter named after the weight:
            `features.0.0.weight` -> `features.0.0.bias`).  Batch norms that do not follow
            a conv2d are left alone (later stages report them).  Parameters that only fed
            folded batch norms are removed from `main` and from `params`.

    before:  lv  = R.nn.conv2d(x, w)                    after:  lv  = R.nn.conv2d(x, w)
             lv1 = R.nn.batch_norm(lv, g, b, m, v)               lv2 = R.add(lv, R.reshape(bias, (1, -1, 1, 1)))
             lv2 = lv1[0]
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain._tvm import PyExprMutator, clone_module, mutator, op_name, relax, shape_of, tensor_type
from tvm_tinytrain.errors import TinyTrainError

from .relax_utils import bindings_of, constant_value, replace_params, use_counts


def fold_batchnorm(mod, params: dict):
    """Return (mod, params) with conv2d + batch_norm pairs folded; the inputs are not modified."""
    func = mod["main"]
    params = dict(params)
    plan, new_params = _plan(func, params)
    if not plan:
        return mod, params
    folder = _Folder(plan, mod)
    body = folder.visit_expr(func.body)
    new_func = relax.analysis.remove_all_unused(replace_params(func, list(func.params) + new_params, body))
    # The batch norms' scale, shift and statistics are folded in: drop them from the signature.
    used = use_counts(new_func)
    kept = [p for i, p in enumerate(new_func.params) if i == 0 or used.get(p, 0)]
    mod = clone_module(mod)
    mod["main"] = replace_params(new_func, kept)
    return mod, {p.name: params[p.name] for p in kept[1:]}


def _plan(func, params: dict):
    """Analysis: which tuple-getitem vars become `conv + bias`, updating params in place."""
    binds, uses = bindings_of(func), use_counts(func)
    plan, new_params = {}, []
    for var, value in binds.items():
        if not (isinstance(value, relax.TupleGetItem) and value.index == 0):
            continue
        bn_var = value.tuple_value
        bn = binds.get(bn_var)
        if not (isinstance(bn, relax.Call) and op_name(bn) == "relax.nn.batch_norm"):
            continue
        if bn.attrs.training:
            raise TinyTrainError(f"fold_batchnorm: batch norm {bn_var.name} is in training mode; "
                                 f"call model.eval() before importing")
        source = _conv_source(bn.args[0], binds, uses, params)
        if source is None or uses.get(bn_var, 0) != 1:
            continue
        conv_var, weight_var, bias_var, axis = source
        gamma, beta, mean, variance = (constant_value(a, params, binds)[0] for a in bn.args[1:5])
        if any(v is None for v in (gamma, beta, mean, variance)):
            continue
        scale = gamma / np.sqrt(variance + float(bn.attrs.epsilon))
        weight = params[weight_var.name]
        shape = [1] * weight.ndim
        shape[axis] = -1
        params[weight_var.name] = (weight * scale.reshape(shape)).astype(weight.dtype)
        old_bias = params[bias_var.name].reshape(-1) if bias_var is not None else 0.0
        bias = ((old_bias - mean) * scale + beta).astype(weight.dtype)
        if bias_var is not None:
            params[bias_var.name] = bias.reshape(params[bias_var.name].shape)
            plan[var] = (bn.args[0], None)
        else:
            name = _bias_name(weight_var.name)
            if name in params:
                raise TinyTrainError(f"fold_batchnorm: cannot add bias parameter {name!r}: the name is taken")
            params[name] = bias
            new_var = relax.Var(name, tensor_type(bias.shape, str(bias.dtype)))
            new_params.append(new_var)
            plan[var] = (conv_var, new_var)
    return plan, new_params


_WEIGHT_OPS = ("relax.nn.conv2d", "relax.nn.conv1d", "relax.matmul")  # output channel = axis 0 of W


def _weight_of(value, binds, uses):
    """(W, its output-channel axis) of conv2d(x, W), conv1d(x, W) (axis 0), matmul(x, permute_dims(W))
    (torch's linear: axis 0) or matmul(x, W^T) (ONNX's bias-free Linear: axis 1); W is checked by the caller."""
    weight = value.args[1]
    if op_name(value) != "relax.matmul":
        return weight, 0
    transpose = binds.get(weight)
    if isinstance(transpose, relax.Call) and op_name(transpose) == "relax.permute_dims":
        if uses.get(weight, 0) != 1 or [int(a) for a in transpose.attrs.axes] != [1, 0]:
            return None, 0
        return transpose.args[0], 0
    return weight, 1


def _conv_source(data, binds, uses, params):
    """(conv var, weight param, bias param or None, the weight's output-channel axis) if `data` is
    conv2d / conv1d / linear (x, W) [+ b], used once."""
    if uses.get(data, 0) != 1:
        return None
    value = binds.get(data)
    bias_var = None
    if isinstance(value, relax.Call) and op_name(value) == "relax.add":
        for conv_arg, bias_arg in ((value.args[0], value.args[1]), (value.args[1], value.args[0])):
            conv = binds.get(conv_arg)
            if isinstance(conv, relax.Call) and op_name(conv) in _WEIGHT_OPS:
                bias_value, bias_var = constant_value(bias_arg, params, binds)
                if bias_value is None or bias_var is None or uses.get(conv_arg, 0) != 1:
                    return None
                data, value = conv_arg, conv
                break
        else:
            return None
    if not (isinstance(value, relax.Call) and op_name(value) in _WEIGHT_OPS):
        return None
    weight, axis = _weight_of(value, binds, uses)
    if not (isinstance(weight, relax.Var) and weight.name in params and uses.get(weight, 0) == 1):
        return None
    return data, weight, bias_var, axis


def _bias_name(weight_name: str) -> str:
    stem = weight_name[: -len("weight")] if weight_name.endswith("weight") else weight_name + "."
    return stem + "bias"


@mutator
class _Folder(PyExprMutator):
    """Rewrite: each planned `bn[0]` var becomes the conv output plus its folded bias."""

    def __init__(self, plan, mod):
        super().__init__(mod)
        self.plan = plan

    def visit_var_binding_(self, binding):
        if binding.var not in self.plan:
            super().visit_var_binding_(binding)
            return
        source, bias_var = self.plan[binding.var]
        source = self.visit_expr(source)
        if bias_var is not None:
            rank = len(shape_of(source))
            source = relax.op.add(source, relax.op.reshape(bias_var, (1, -1) + (1,) * (rank - 2)))
        if not isinstance(binding.var, relax.DataflowVar):
            # The dataflow block's output (e.g. a model ending in conv + BN): keep it an output var.
            source = self.builder_.emit_output(source, name_hint=binding.var.name)
        elif bias_var is not None:
            source = self.builder_.emit(source, name_hint=binding.var.name)
        self.set_var_remap(binding.var, source)
