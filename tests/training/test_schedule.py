import math

import pytest

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.training.schedule import cosine_warmup


def test_warmup_is_linear_then_cosine_decays_to_near_zero():
    total, warmup = 100, 10
    f = [cosine_warmup(s, total, warmup) for s in range(total)]
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f[10] == 1.0
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert f[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_no_warmup_starts_at_one():
    assert cosine_warmup(0, 5) == 1.0


@pytest.mark.parametrize("step,total,warmup", [(5, 5, 0), (-1, 5, 0), (0, 5, 5), (0, 0, 0)])
def test_bad_arguments_are_named(step, total, warmup):
    with pytest.raises(TinyTrainError, match="cosine_warmup"):
        cosine_warmup(step, total, warmup)
