"""Cross-entropy on real-valued logits (float32), and its gradient softmax - onehot."""
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


# One record per op (registry.py): builder, C call, kernel files, gradient rule, storage.
declare(
    OpRecord("cross_entropy", cross_entropy, c.cross_entropy, ("tt_cross_entropy_f32.c",), rule.cross_entropy),
    OpRecord("cross_entropy_grad", cross_entropy_grad, c.cross_entropy_grad, ("tt_cross_entropy_grad_f32.c",)),
)
