"""The concat layer's C kernel through ctypes against numpy, on hypothesis-chosen inputs and
quantizations: one input's requantizing copy bit for bit with the reference formula (shifts below, at
and above 32), the copy when the input has the output's quantization, whole joins equal
reference.run_int8's concat, argument checks, and no write past the part's end."""
import functools

import numpy as np
from hypothesis import given, settings, strategies as st

from codegen.host_build import kernel_library
from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.graph import Graph, Layer, QParams
from tvm_tinytrain.quantization import concat
from tvm_tinytrain.quantization.fixed_point import quantize_multiplier, rshift_round
from tvm_tinytrain.reference import INT8_OPS

SETTINGS = settings(max_examples=60, deadline=None)
SENTINEL = 4


@functools.lru_cache(maxsize=None)
def lib():
    return kernel_abi.typed(kernel_library())


def ptr(a):
    return a.ctypes.data


def part(x, x_zero, mult, shift, y_zero):
    """The kernel's output, written into a buffer whose tail must stay untouched."""
    full = np.full(x.size + SENTINEL, 77, np.int8)
    assert lib().tt_concat_s8(ptr(x), x.size, x_zero, mult, shift, y_zero, ptr(full)) == 0
    assert (full[x.size:] == 77).all()
    return full[:x.size]


def numpy_part(x, x_zero, mult, shift, y_zero):
    return np.clip(rshift_round((x.astype(np.int64) - x_zero) * mult, shift) + y_zero, -128, 127).astype(np.int8)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(-128, 127), st.integers(-128, 127),
       st.floats(2.0**-20, 4.0))
def test_requantizing_copy_equals_numpy(seed, n, x_zero, y_zero, ratio):
    x = np.random.default_rng(seed).integers(-128, 128, n).astype(np.int8)
    mult, shift = (int(v[0]) for v in quantize_multiplier(ratio))
    np.testing.assert_array_equal(part(x, x_zero, mult, shift, y_zero), numpy_part(x, x_zero, mult, shift, y_zero))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(-128, 127))
def test_an_input_with_the_outputs_quantization_is_copied(seed, n, zero):
    x = np.random.default_rng(seed).integers(-128, 128, n).astype(np.int8)
    mult, shift = (int(v[0]) for v in quantize_multiplier(1.0))
    assert (mult, shift) == (1 << 30, 30)
    np.testing.assert_array_equal(part(x, zero, mult, shift, zero), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.lists(st.tuples(st.integers(1, 5), st.floats(1e-3, 1.0),
                                                      st.integers(-128, 127)), min_size=2, max_size=4),
       st.integers(1, 4), st.integers(1, 4))
def test_parts_at_their_channel_offsets_are_the_reference_concat(seed, inputs, h, w):
    """Each input's call at its channel offset of one output buffer gives reference.run_int8's join."""
    rng = np.random.default_rng(seed)
    qs = [QParams(scale, zero) for _, scale, zero in inputs]
    out_q = concat.output_q(qs)
    attrs = concat.requant(qs, out_q)
    xs = [rng.integers(-128, 128, (c, h, w)).astype(np.int8) for c, _, _ in inputs]
    total = sum(c for c, _, _ in inputs)
    layers = [Layer(f"x{i}", "conv2d", ("input",), (c, h, w), {}, {}, q)
              for i, ((c, _, _), q) in enumerate(zip(inputs, qs))]
    layers.append(Layer("join", "concat", tuple(l.name for l in layers), (total, h, w), attrs, {}, out_q))
    graph = Graph("g", (1, h, w), layers, input_q=QParams(1.0, 0))
    ref = INT8_OPS["concat"](layers[-1], xs, graph)
    out = np.full(total * h * w + SENTINEL, 55, np.int8)
    offset = 0
    for x, q, mult, shift in zip(xs, qs, attrs["multipliers"], attrs["shifts"]):
        assert lib().tt_concat_s8(ptr(x), x.size, q.zero, mult, shift, out_q.zero,
                                  out[offset:].ctypes.data) == 0
        offset += x.size
    np.testing.assert_array_equal(out[:offset].reshape(total, h, w), ref)
    assert (out[offset:] == 55).all()


def test_bad_arguments_are_refused():
    x, y = np.zeros(4, np.int8), np.zeros(4, np.int8)
    f = lib().tt_concat_s8
    assert f(None, 4, 0, 1 << 30, 30, 0, ptr(y)) != 0
    assert f(ptr(x), 4, 0, 1 << 30, 30, 0, None) != 0
    assert f(ptr(x), -1, 0, 1 << 30, 30, 0, ptr(y)) != 0
    assert f(ptr(x), 4, 128, 1 << 30, 30, 0, ptr(y)) != 0
    assert f(ptr(x), 4, 0, 1 << 30, 30, -129, ptr(y)) != 0
    assert f(ptr(x), 4, 0, -1, 30, 0, ptr(y)) != 0
    for shift in (0, 63):
        assert f(ptr(x), 4, 0, 1 << 30, shift, 0, ptr(y)) != 0
