"""qas: Quantization-Aware Scaling of the parameter gradients (Lin et al. 2022, section 3.2).

The gradient of an int8 weight is `G_w = s_w dW_r`, so its ratio to the weight is off by
`s_w^-2` compared with the float model; QAS divides by the square of each parameter's
quantization step: `G_w~ = G_w / s_w^2`, `G_b~ = G_b / (s_w s_x)^2` (per output channel).

Needs:      `main` after `quantized_autodiff` (`tt.grads`, `tt.grad_info` with `step`).
Guarantees: for every s8/s32 gradient `G = scale_channels(G_r, step)` (as emitted by
            `quantized_autodiff`) the factor becomes `step / step^2 = 1 / step`, i.e. QAS is
            folded into the op that already scales the gradient, costing no extra op or
            tensor; f32 gradients are untouched; `tt.qas` = 1 marks the module so the pass
            is not applied twice.
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax
from tvm_tinytrain.errors import TinyTrainError

from .training_graph import copy_binding, main_attr, op_bindings, result_fields, rewrite_main


def qas(mod):
    names, info = main_attr(mod, "tt.grads"), main_attr(mod, "tt.grad_info")
    if names is None:
        raise TinyTrainError("qas: main has no gradients (tt.grads); run quantized_autodiff first")
    if main_attr(mod, "tt.qas"):
        raise TinyTrainError("qas: already applied to this module")
    bindings = op_bindings(mod)
    results = result_fields(mod)
    grads = dict(zip(names, results[1:]))
    scaled_for = {grads[n]: n for n in names if info[n]["kind"] in ("s8", "s32")}

    def emit(bb):
        vmap = {}
        for binding in bindings:
            name = scaled_for.get(binding.var)
            if name is None:
                copy_binding(bb, binding, vmap)
                continue
            if binding.op != "scale_channels":
                raise TinyTrainError(f"qas: gradient of {name} is produced by {binding.op}, expected scale_channels")
            step = np.asarray(info[name]["step"], np.float64)
            factor = relax.const((step / step**2).astype(np.float32), "float32")
            grad_r = vmap.get(binding.args[0], binding.args[0])
            vmap[binding.var] = ops.call(bb, "scale_channels", [grad_r, factor], {}, label=binding.layer, role="qas")
        return relax.Tuple([vmap[v] for v in results])

    new = rewrite_main(mod, list(mod["main"].params), emit)
    new["main"] = new["main"].with_attr("tt.qas", 1)
    return new
