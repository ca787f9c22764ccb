"""tt_conv2d_1x1_grad_input_masked_channels_f32: a chunk of a 1x1 conv's input gradient from its output gradient read
through a clamp mask (a residual block's projection: passes/source_through_mask.py) == the unmasked kernel on
mask_grad's values, bit for bit: maps whose mask rows start inside a byte, pixels past the last 8, more than 64 output
channels (two blocks), an odd last channel, a scratch of one channel pair (a group per pair), and 8 pixels whose mask
bits are all 1 (g read as it is) beside ones with zeros."""
import numpy as np
import pytest

from tvm_tinytrain.codegen import kernel_abi


def _masked_and_whole(out_c, hw, channels, c0, k, scratch_floats, seed, clamped="everywhere"):
    """(the masked kernel's chunk, the unmasked kernel's on mask_grad's values); `clamped`: zeros in the mask
    "everywhere" (every 8 pixels have some), or "first 8 pixels" (after them g is read as it is)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(0, 1, (out_c, hw)).astype(np.float32)
    g[rng.random(g.shape) < 0.05] = -0.0  # a masked -0.0 is +0.0, an unmasked one stays -0.0
    bits = rng.random((out_c, hw)) < 0.8
    bits[:2] = True  # whole bytes of ones (the copy) beside mixed and zero ones
    bits[3] = False
    if clamped != "everywhere":
        bits[:, 8:] = True
    bits = bits.reshape(-1)
    mask = np.packbits(bits.astype(np.uint8), bitorder="little")
    w = rng.integers(-128, 128, (out_c, channels), dtype=np.int8)
    scale = rng.uniform(0.001, 0.02, out_c).astype(np.float32)
    d = np.where(bits.reshape(out_c, hw), g, np.float32(0.0)).astype(np.float32)  # mask_grad: +0.0 where clear
    whole = np.full((k, hw), np.nan, np.float32)
    ptr = lambda a: a.ctypes.data  # noqa: E731
    assert kernel_abi.call("tt_conv2d_1x1_grad_input_channels_f32", ptr(d), out_c, hw, ptr(w), ptr(scale), c0, k,
                           channels, ptr(whole)) == 0
    got = np.full((k, hw), np.nan, np.float32)
    scratch = np.full(scratch_floats, np.nan, np.float32)
    assert kernel_abi.call("tt_conv2d_1x1_grad_input_masked_channels_f32", ptr(g), ptr(mask), out_c, hw, ptr(w),
                           ptr(scale), c0, k, channels, ptr(got), ptr(scratch), scratch_floats) == 0
    return got, whole


@pytest.mark.parametrize("out_c, hw, channels, c0, k", [
    (32, 64, 192, 8, 8), (12, 49, 36, 2, 8), (12, 25, 36, 0, 2), (70, 9, 24, 4, 6), (24, 16, 13, 8, 5),
    (5, 7, 8, 0, 8)])
@pytest.mark.parametrize("room", ["one pair", "all pairs"])
@pytest.mark.parametrize("clamped", ["everywhere", "first 8 pixels"])
def test_the_masked_kernel_equals_the_unmasked_one_on_the_masked_values(out_c, hw, channels, c0, k, room, clamped):
    n = min(out_c, 64)
    floats = 10 * n if room == "one pair" else 8 * n + n * (k + 1)
    assert kernel_abi.call("tt_masked_grad_input_pairs", out_c, floats) == (1 if room == "one pair" else (k + 1) // 2)
    got, whole = _masked_and_whole(out_c, hw, channels, c0, k, floats, out_c * hw + k, clamped)
    assert np.array_equal(got.view(np.uint32), whole.view(np.uint32))


def test_too_small_a_scratch_is_an_error():
    assert kernel_abi.call("tt_masked_grad_input_pairs", 12, 10 * 12 - 1) == 0
    with pytest.raises(AssertionError):
        _masked_and_whole(12, 16, 8, 0, 4, 10 * 12 - 1, 1)
