"""Requantize constants of each int8 layer kind, from the real scales they represent.

Both ways of getting an int8 graph (loading a paper backbone, post-training
quantization) fill their layers through these functions, so the constants always mean
what docs/int8-semantics.md says.
"""
import numpy as np

from ..graph import QParams
from .fixed_point import quantize_multiplier, quantize_multiplier_pair


def weight_layer_requant(x_q: QParams, w_scale: np.ndarray, out_q: QParams) -> dict:
    """`multiplier`/`shift` params of a conv2d or linear: x_scale * w_scale[o] / y_scale."""
    mult, shift = quantize_multiplier(x_q.scale * w_scale.astype(np.float64) / out_q.scale)
    return {"multiplier": mult, "shift": shift}


def add_requant(a_q: QParams, b_q: QParams, out_q: QParams) -> dict:
    """Attrs of an add: both inputs rescaled to the output scale, one shared shift."""
    mult_a, mult_b, shift = quantize_multiplier_pair(a_q.scale / out_q.scale, b_q.scale / out_q.scale)
    return {"multiplier_a": mult_a, "multiplier_b": mult_b, "shift": shift}


def mul_requant(x_q: QParams, g_q: QParams, out_q: QParams) -> dict:
    """Attrs of a mul: the product of the two centred inputs rescaled by x_scale * g_scale / y_scale."""
    mult, shift = quantize_multiplier(x_q.scale * g_q.scale / out_q.scale)
    return {"multiplier": int(mult[0]), "shift": int(shift[0])}



def bias_limit(fan_in: int) -> int:
    """The largest |bias| for which bias + sum((x - x_zero) * w) fits int32 for ANY int8 weights
    of that fan-in (|x - x_zero| <= 255, |w| <= 128), so training can change weights freely."""
    return 2**31 - 1 - 255 * 128 * fan_in


def overflow_safe_bias(bias: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """int32 bias saturated to +-bias_limit(fan_in), so the int32 accumulator never overflows.

    Only degenerate channels are affected (the paper's MCUNet has dead channels with bias
    -2**31), and their output saturates either way; training keeps biases in the same range.
    """
    limit = bias_limit(int(np.prod(weight.shape[1:])))
    return np.clip(bias.astype(np.int64), -limit, limit).astype(np.int32)
