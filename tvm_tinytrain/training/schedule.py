"""The paper's learning-rate schedule: linear warm-up, then cosine decay to zero.

Both learning rates of a scheme (weights and biases) are scaled by the same factor, so a
step's rates are `factor(step) * scheme.lr_weight` and `factor(step) * scheme.lr_bias`.
"""
from __future__ import annotations

import math

from ..errors import TinyTrainError


def cosine_warmup(step: int, total: int, warmup: int = 0) -> float:
    """Factor in [0, 1] for 0-based `step` of `total`: (step+1)/warmup during the warm-up,
    then 0.5 (1 + cos(pi t)) with t going from 0 to (almost) 1 over the remaining steps."""
    if total < 1 or not 0 <= warmup < max(total, 1) or not 0 <= step < total:
        raise TinyTrainError(f"cosine_warmup: need 0 <= step < total and 0 <= warmup < total, got step={step}, "
                             f"total={total}, warmup={warmup}")
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / (total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * t))
