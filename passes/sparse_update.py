"""sparse_update: mark which parameters a training step updates, from a resolved scheme.

Needs:      the loss module (after `add_loss`); a `tvm_tinytrain.scheme.Scheme` whose layer
            names exist in `main`.
Guarantees: `main` carries the attribute `tt.trainable` = {parameter name: k}: for an int8
            weight `k` is the number of leading input channels updated (for a depthwise conv,
            leading channels: rows [:k * m] with a channel multiplier m; for a grouped conv, weight[:, :k]: the leading k of each group's
            inputs, docs/training-semantics.md), for a bias or a float parameter `k` is its full size.  The
            module is otherwise unchanged; `quantized_autodiff` reads the attribute and emits
            only the backward those parameters need.
"""
from __future__ import annotations

from tvm_tinytrain._tvm import clone_module
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.scheme import Scheme

from .training_graph import op_bindings, params_by_name


def sparse_update(mod, scheme: Scheme):
    params = params_by_name(mod)
    layers = {b.layer: b for b in op_bindings(mod) if b.op in ("conv2d_s8", "linear_s8", "linear_f32")}
    trainable = {}
    for name in scheme.bias:
        _layer(layers, name, scheme)
        trainable[f"{name}.bias"] = int(params[f"{name}.bias"].ty.shape[0])
    for name, k in scheme.weights.items():
        binding = _layer(layers, name, scheme)
        weight = params[f"{name}.weight"]
        shape = [int(s) for s in weight.ty.shape]
        depthwise = binding.op == "conv2d_s8" and binding.attrs["groups"] > 1 and shape[1] == 1
        channels = binding.attrs["groups"] if depthwise else shape[1]
        if not 1 <= k <= channels:
            raise TinyTrainError(f"sparse_update: scheme {scheme.name!r} updates {k} input channels of "
                                 f"{name!r}, which has {channels}")
        if binding.op == "linear_f32" and k != channels:  # linear_f32's gradient and sgd_f32 are whole
            raise TinyTrainError(f"sparse_update: scheme {scheme.name!r} updates {k} of the {channels} input "
                                 f"channels of the fp32 classifier {name!r}; a float classifier is updated "
                                 f"whole (use ratio 1)")
        trainable[f"{name}.weight"] = k
    if not trainable:
        raise TinyTrainError(f"sparse_update: scheme {scheme.name!r} updates nothing")
    return _with_attr(mod, trainable)


def _layer(layers, name, scheme):
    if name not in layers:
        raise TinyTrainError(f"sparse_update: scheme {scheme.name!r} names layer {name!r}, which is not a "
                             f"conv/linear layer of this model (known: {', '.join(list(layers)[:6])}, ...)")
    return layers[name]


def _with_attr(mod, trainable):
    mod = clone_module(mod)
    mod["main"] = mod["main"].with_attr("tt.trainable", trainable)
    return mod
