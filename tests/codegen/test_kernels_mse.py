"""The MSE loss kernels (tt_mse_f32, tt_mse_grad_f32) through ctypes: the loss against float64
torch within the float32 summation bound ((n + 3) units of 2^-24 relative), the gradient bit for bit with the same float32 operations
(((y - t) * 2) / n: one rounding) and within 1e-6 relative of float64 autograd; no write past the
output; bad arguments refused."""
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from codegen.host_build import kernel_library
from tvm_tinytrain.codegen import kernel_abi

TT_OK, TT_ERR_ARG = 0, -1


def _lib():
    return kernel_abi.typed(kernel_library())


def _ptr(a):
    return a.ctypes.data


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 700), seed=st.integers(0, 2**32 - 1), spread=st.sampled_from([1e-3, 1.0, 30.0]))
def test_mse_and_grad_vs_torch(n, seed, spread):
    rng = np.random.default_rng(seed)
    y = (rng.standard_normal(n) * spread).astype(np.float32)
    t = (rng.standard_normal(n) * spread).astype(np.float32)
    loss = np.full(1, np.nan, np.float32)
    grad = np.full(n + 4, np.nan, np.float32)
    assert _lib().tt_mse_f32(_ptr(y), _ptr(t), n, _ptr(loss)) == TT_OK
    assert _lib().tt_mse_grad_f32(_ptr(y), _ptr(t), n, _ptr(grad)) == TT_OK
    assert np.isnan(grad[n:]).all(), "tt_mse_grad_f32 wrote past the end of its output"

    y64 = torch.from_numpy(y.astype(np.float64)).requires_grad_(True)
    ref = F.mse_loss(y64, torch.from_numpy(t.astype(np.float64)))
    ref.backward()
    d = y.astype(np.float64) - t
    bound = (n + 3) * 2.0**-24 * float(np.mean(d * d))  # float32 sum of n positive terms, then one division
    assert abs(float(loss[0]) - ref.item()) <= bound + 1e-37
    np.testing.assert_array_equal(grad[:n], ((y - t) * np.float32(2)) / np.float32(n))
    assert np.abs(grad[:n] - y64.grad.numpy()).max() <= 1e-6 * np.abs(y64.grad.numpy()).max() + 1e-30


def test_mse_bad_arguments():
    y = np.zeros(4, np.float32)
    out = np.zeros(4, np.float32)
    for n in (0, -1):
        assert _lib().tt_mse_f32(_ptr(y), _ptr(y), n, _ptr(out)) == TT_ERR_ARG
        assert _lib().tt_mse_grad_f32(_ptr(y), _ptr(y), n, _ptr(out)) == TT_ERR_ARG
    assert _lib().tt_mse_f32(_ptr(y), None, 4, _ptr(out)) == TT_ERR_ARG
    assert _lib().tt_mse_grad_f32(None, _ptr(y), 4, _ptr(out)) == TT_ERR_ARG
