"""PTQ's quantization of a concat (quantization/concat.py), on hypothesis-chosen input quantizations:
a shared quantization is kept and every part is a copy; otherwise the output covers what every input
can represent, so each of an input's 256 codes requantizes to within half an output step of its real
value (no saturation beyond the rounded zero point's half code), and no input has a finer step than the
output."""
import numpy as np
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.graph import QParams
from tvm_tinytrain.quantization import concat
from tvm_tinytrain.quantization.fixed_point import rshift_round

QS = st.lists(st.builds(QParams, st.floats(1e-4, 10.0), st.integers(-128, 127)), min_size=2, max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.builds(QParams, st.floats(1e-4, 10.0), st.integers(-128, 127)), st.integers(2, 5))
def test_a_shared_quantization_is_kept_and_each_part_is_a_copy(q, n):
    out = concat.output_q([q] * n)
    assert out == q
    assert concat.requant([q] * n, out) == {"multipliers": [1 << 30] * n, "shifts": [30] * n}


@settings(max_examples=100, deadline=None)
@given(QS)
def test_every_code_of_every_input_is_represented(qs):
    out = concat.output_q(qs)
    attrs = concat.requant(qs, out)
    codes = np.arange(-128, 128, dtype=np.int64)
    for q, mult, shift in zip(qs, attrs["multipliers"], attrs["shifts"]):
        y = rshift_round((codes - q.zero) * mult, shift) + out.zero
        assert y.min() >= -129 and y.max() <= 128  # at most the zero point's half code past an end
        inside = (y >= -128) & (y <= 127)
        real_in = q.scale * (codes - q.zero)
        real_out = out.scale * (np.clip(y, -128, 127) - out.zero)
        assert np.abs(real_out - real_in)[inside].max() <= out.scale * (0.5 + 1e-6)
        assert np.abs(real_out - real_in).max() <= out.scale * (1 + 1e-6)
    assert out.scale >= max(q.scale for q in qs) * (1 - 1e-12)
