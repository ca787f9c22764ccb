"""PyTorch modules -> fp32 Relax, batch norms folded, parameters detached and named
after the torch module path (`features.3.conv.0.weight`).

torch.export captures the module; TVM's exported-program importer builds Relax; our
`fold_batchnorm` pass folds the batch norms so names survive.  Before handing the
program to TVM, its ATen ops are checked against what the rest of the toolchain can
quantize and train, so an unsupported op is reported with the torch module it sits in.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, TinyTrainError, UnsupportedOpError
from ..layer_kinds import supported_text
from .unsupported import Problems

# ATen ops (after torch.export in eval mode) that the layer graph can represent.
SUPPORTED_ATEN = {
    "conv2d", "conv1d", "convolution", "_convolution", "batch_norm", "_native_batch_norm_legit_no_training",
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "clamp", "clip",
    "add", "add_", "mul", "mul_", "max_pool2d", "max_pool2d_with_indices", "adaptive_avg_pool2d", "_adaptive_avg_pool2d",
    "mean", "avg_pool2d", "max_pool1d", "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d",
    "flatten", "view", "reshape", "_unsafe_view", "linear", "addmm", "t", "permute",
    "dropout", "clone", "contiguous", "squeeze", "getitem", "cat", "concat",
    # elementwise int8 table layers (layer kind lut, quantization/lut.py)
    "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "sigmoid", "sigmoid_", "silu", "silu_", "tanh", "tanh_",
    "leaky_relu", "leaky_relu_",
}


# torch 2.13 deprecates constructing its `LeafSpec`, then its own `run_decompositions` (which TVM's
# importer calls) deep-copies the module call graph, whose LeafSpec singletons are re-constructed by
# `copy`: a FutureWarning on every torch import that names no call of ours. Only that one is hidden.
LEAF_SPEC_NOISE = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


@dataclass
class RelaxModel:
    """An fp32 Relax module in detached-params form: `main(x, *params)`, values in `params`."""

    mod: object
    params: dict[str, np.ndarray]
    name: str
    input_shape: tuple[int, ...]  # (C, H, W)


def from_torch(module, example_input, name: str | None = None) -> RelaxModel:
    """Import a torch.nn.Module (evaluated in eval mode on `example_input`, shape (1, C, H, W), or
    (1, C, L) for the 1-D family, whose layer graph input is then (C, 1, L))."""
    import torch

    from tvm_tinytrain._tvm import relax
    from tvm.relax.frontend.torch import from_exported_program
    from tvm_tinytrain.passes.fold_batchnorm import fold_batchnorm

    from .rename import rename_params

    if not isinstance(module, torch.nn.Module):
        raise TinyTrainError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    if not (isinstance(example_input, torch.Tensor) and example_input.dim() in (3, 4) and example_input.shape[0] == 1):
        shape = tuple(example_input.shape) if hasattr(example_input, "shape") else type(example_input).__name__
        raise ShapeError(f"from_torch: example_input must be a float tensor shaped (1, C, H, W) or (1, C, L), "
                         f"got {shape}")
    module = module.eval()
    try:
        exported = torch.export.export(module, (example_input.float(),))
    except Exception as err:  # torch's own message says what it could not trace
        raise TinyTrainError(f"from_torch: torch.export could not capture the model: {err}") from None
    _check_ops(exported, type(module).__name__)
    try:
        with warnings.catch_warnings():  # torch's own deep copy of its LeafSpec (LEAF_SPEC_NOISE)
            warnings.filterwarnings("ignore", message=LEAF_SPEC_NOISE, category=FutureWarning)
            mod = from_exported_program(exported, keep_params_as_input=True)
    except Exception as err:
        raise UnsupportedOpError(f"from_torch: TVM's importer rejected the exported program: {err}") from None
    mod, detached = relax.frontend.detach_params(mod)
    torch_names = {spec.arg.name: spec.target for spec in exported.graph_signature.input_specs
                   if spec.target is not None}
    func = mod["main"]
    relax_names = [p.name for p in func.params[1:]]
    params = {torch_names.get(n, n): v.numpy() for n, v in zip(relax_names, detached["main"])}
    mod = rename_params(mod, {n: torch_names.get(n, n) for n in relax_names})
    mod = _unwrap_single_output(mod)
    mod = relax.transform.CanonicalizeBindings()(mod)  # max_pool2d's (values, indices) tuple -> values
    mod = relax.transform.DeadCodeElimination(["main"])(mod)  # and drop the unused indices
    mod, params = fold_batchnorm(mod, params)
    return RelaxModel(mod, params, name or type(module).__name__, layer_input_shape(example_input.shape))


def layer_input_shape(shape) -> tuple[int, ...]:
    """(1, C, H, W) -> (C, H, W); a 1-D (1, C, L) -> (C, 1, L), the layer graph's layout for it."""
    shape = tuple(int(s) for s in shape[1:])
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


SUPPORTED_TEXT = supported_text()  # from the layer kinds (tvm_tinytrain/layer_kinds.py)


def _check_ops(exported, model_name: str):
    """Every ATen op the layer graph cannot represent, with its torch module path, in one error."""
    problems = Problems("from_torch")
    for node in exported.graph.nodes:
        if node.op != "call_function":
            continue
        op = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        reason = None if op in SUPPORTED_ATEN else "is not supported"
        if reason is None and op in _ATTRIBUTE_CHECKS:
            reason = _ATTRIBUTE_CHECKS[op](node)
        if reason is None:
            continue
        stack = node.meta.get("nn_module_stack") or {}
        where = list(stack.values())[-1] if stack else ("", model_name)
        path, cls = where[0] or "<top level>", getattr(where[1], "__name__", str(where[1])).split(".")[-1]
        problems.add(f"operator aten.{op} {reason}", f"module {path!r} ({cls}, graph node {node.name!r})")
    problems.raise_if_any(SUPPORTED_TEXT)


def _arg(node, index: int, name: str, default):
    """An ATen call's argument by position or keyword (defaults are left out of the graph)."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _pair(value) -> tuple:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    return values * 2 if len(values) == 1 else values


def _check_conv(node):
    """aten.conv2d(x, w, b, stride, padding, dilation, groups) / convolution(..., transposed, ...)."""
    if node.target.__name__.split(".")[0] in ("convolution", "_convolution") and _arg(node, 6, "transposed", False):
        return "is a transposed convolution (not supported)"
    return None


def _check_max_pool(node):
    """aten.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)."""
    dilation = _pair(_arg(node, 4, "dilation", 1))
    if any(int(d) != 1 for d in dilation):
        return f"has dilation={dilation} (only dilation 1 is supported)"
    if _arg(node, 5, "ceil_mode", False):
        return "has ceil_mode=True (only ceil_mode=False is supported)"
    return None


def _check_avg_pool(node):
    """aten.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)."""
    if _arg(node, 4, "ceil_mode", False):
        return "has ceil_mode=True (only ceil_mode=False is supported)"
    if _arg(node, 6, "divisor_override", None) is not None:
        return f"has divisor_override={_arg(node, 6, 'divisor_override', None)} (only None is supported)"
    return None


_ATTRIBUTE_CHECKS = {"conv2d": _check_conv, "conv1d": _check_conv, "convolution": _check_conv,
                     "_convolution": _check_conv, "max_pool2d": _check_max_pool,
                     "max_pool2d_with_indices": _check_max_pool, "max_pool1d": _check_max_pool,
                     "max_pool1d_with_indices": _check_max_pool, "avg_pool2d": _check_avg_pool,
                     "avg_pool1d": _check_avg_pool}


def _unwrap_single_output(mod):
    """torch.export returns a 1-tuple; make `main` return the tensor itself."""
    from tvm_tinytrain._tvm import clone_module, relax

    func = mod["main"]
    seq = func.body
    result = seq.body
    binds = {b.var: b.value for block in seq.blocks for b in block.bindings}
    value = binds.get(result, result)
    if isinstance(value, relax.Tuple) and len(value.fields) == 1:
        # Rebind the result var to the tensor (not return the field itself: it is a
        # DataflowVar, and returning it from outside the dataflow block is ill-formed Relax).
        field = value.fields[0]
        out = relax.Var(result.name, field.ty)

        def rebind(block):
            bindings = [relax.VarBinding(out, field) if b.var.same_as(result) else b for b in block.bindings]
            return (relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock)(bindings)

        new_body = relax.SeqExpr([rebind(block) for block in seq.blocks], out)
        mod = clone_module(mod)
        mod["main"] = relax.analysis.remove_all_unused(
            relax.Function(func.params, new_body, field.ty, func.is_pure, func.attrs))
    return mod
