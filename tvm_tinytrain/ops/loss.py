"""The losses on the real-valued output (float32): cross-entropy against a class label (gradient
softmax - onehot), and the mean squared error against a float32 target shaped like the output
(gradient 2 (y - t) / n)."""
import numpy as np

from tvm_tinytrain.codegen import templates as c
from tvm_tinytrain.passes.gradients import loss as rule

from .._tvm import relax
from .registry import OpRecord, declare


def _log_sum_exp(fb, logits):
    peak = fb.emit(relax.op.max(logits, axis=1, keepdims=True))
    total = relax.op.sum(relax.op.exp(relax.op.subtract(logits, peak)), axis=1, keepdims=True)
    return fb.emit(relax.op.add(peak, relax.op.log(total)))


def _one_hot(fb, logits, label):
    classes = int(logits.ty.shape[1])
    hits = relax.op.equal(relax.op.arange(0, classes, 1, "int32"), label)
    return fb.emit(relax.op.reshape(relax.op.astype(hits, "float32"), (1, classes)))


def cross_entropy(fb, args, a):
    """(logits f32 (1, N), label int32 ()) -> loss f32 () = logsumexp(l) - l[label]."""
    logits, label = args
    picked = relax.op.sum(relax.op.multiply(logits, _one_hot(fb, logits, label)))
    return relax.op.subtract(relax.op.reshape(_log_sum_exp(fb, logits), ()), picked)


def cross_entropy_grad(fb, args, a):
    """(logits, label) -> softmax(l) - onehot(label), f32 (1, N)."""
    logits, label = args
    softmax = relax.op.exp(relax.op.subtract(logits, _log_sum_exp(fb, logits)))
    return relax.op.subtract(softmax, _one_hot(fb, logits, label))


def _f32(value):
    return relax.const(np.float32(value), "float32")


def mse(fb, args, a):
    """(y f32 (1, N), target f32 (1, N)) -> loss f32 () = sum((y - t)^2) / N."""
    y, target = args
    d = fb.emit(relax.op.subtract(y, target))
    return relax.op.divide(relax.op.sum(relax.op.multiply(d, d)), _f32(int(np.prod(y.ty.shape))))


def mse_grad(fb, args, a):
    """(y, target) -> ((y - t) * 2) / N, f32 (1, N): one rounding, in the division (2x is exact)."""
    y, target = args
    d = fb.emit(relax.op.subtract(y, target))
    return relax.op.divide(relax.op.multiply(d, _f32(2.0)), _f32(int(np.prod(y.ty.shape))))


# One record per op (registry.py): builder, C call, kernel files, gradient rule, storage.
declare(
    OpRecord("cross_entropy", cross_entropy, c.cross_entropy, ("tt_cross_entropy_f32.c",), rule.cross_entropy),
    OpRecord("cross_entropy_grad", cross_entropy_grad, c.cross_entropy_grad, ("tt_cross_entropy_grad_f32.c",)),
    OpRecord("mse", mse, c.mse, ("tt_mse_f32.c",), rule.mse),
    OpRecord("mse_grad", mse_grad, c.mse_grad, ("tt_mse_grad_f32.c",)),
)
