"""tt_expf / tt_logf, the loss's exp and log: within a few 1e-7 of the exact values, and the same
bits on this host and on emulated Cortex-M4 / M7 (newlib's expf / logf differ on the M4, which
made a training run on it drift from the host's).  tt_mla_f32, the backward kernels' multiply-accumulate
(VMLA.F32 on a Cortex-M FPU, a separate multiply and add on the host): the same bits too, on a sweep
whose fused (FMA) result differs, and so do the 1x1 input gradients' outputs (plain and split weight:
asm loops of VMLAs on the device, C on the host), the 1x1 weight gradient's, the bias gradient's (an
asm loop of VADDs), the depthwise input gradient's (strides 1-3), the int8 SGD blocks' (an asm loop of two
weights a turn on a Cortex-M4 / M7 / M55), the clamp mask's (SSUB8 flags on a DSP core), the int32 bias
step's and the mask gradient's (conditional stores on a Thumb-2 core), the channel scaling's and the gradient
sum's (eight a turn) on random shapes; and the float backward kernels built for every board use it."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tvm_tinytrain.codegen import host_build
from tvm_tinytrain.targets.qemu import load_board, toolchain_missing


HERE = Path(__file__).resolve().parent
DSP_CHECK = HERE / "dsp_check"  # its link.ld serves any bare-metal check
SOURCE = HERE / "float_math" / "check_float_math.c"
# built with the check: the 1x1 input gradients and the bias gradient run asm loops (tt_mla_2x8_f32,
# tt_mla_2x8_scaled_f32, tt_sum8_f32) on a Cortex-M FPU, the weight gradient tt_mla_f32 chains
KERNEL_SOURCES = [str(host_build.KERNEL_DIR / f"{name}.c") for name in
                  ("tt_conv2d_grad_input_f32", "tt_conv2d_1x1_grad_input_split_f32", "tt_conv2d_grad_weight_f32",
                   "tt_bias_grad_f32", "tt_sgd_s8_rows", "tt_sgd_s8", "tt_clamp_mask_s8",
                   "tt_sgd_s32", "tt_mask_grad_f32", "tt_scale_channels_f32", "tt_grad_add_f32")]


@pytest.fixture(scope="module")
def host_result(tmp_path_factory):
    exe = tmp_path_factory.mktemp("float_math") / "check"
    subprocess.run(["gcc", *host_build.CFLAGS, f"-I{host_build.KERNEL_DIR}", str(SOURCE), *KERNEL_SOURCES,
                    "-o", str(exe), "-lm"],
                   check=True)
    digest, err_exp, err_log, fused = subprocess.run([str(exe)], capture_output=True, text=True,
                                                     check=True).stdout.split()
    return digest, float(err_exp), float(err_log), fused


def test_accuracy(host_result):
    _, err_exp, err_log, _ = host_result
    assert err_exp < 2e-7 and err_log < 3e-7


def test_sweep_tells_fused_from_unfused(host_result):
    """A VFMA in place of VMLA would change the device's digest: the sweep's fused sums differ."""
    assert host_result[0] != host_result[3]


# The float kernels whose dot products run through tt_mla_f32.
MLA_KERNELS = ("tt_conv2d_grad_weight_f32", "tt_conv2d_grad_input_f32", "tt_conv2d_1x1_grad_input_split_f32",
               "tt_linear_grad_input_f32", "tt_linear_f32_grad_input", "tt_linear_f32")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-objdump") is None,
                    reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m7", "cortex-m7-sp", "cortex-m55"])
def test_backward_kernels_multiply_accumulate_unfused(tmp_path, board):
    """Every float kernel's accumulation is one VMLA.F32 (-ffp-contract=off alone gives vmul + vadd),
    and no fused multiply-add, whose single rounding the host does not do, appears."""
    for name in MLA_KERNELS:
        obj = tmp_path / f"{name}.o"
        subprocess.run(["arm-none-eabi-gcc", *host_build.CFLAGS, *load_board(board)["cflags"],
                        f"-I{host_build.KERNEL_DIR}", "-c", str(host_build.KERNEL_DIR / f"{name}.c"), "-o", str(obj)],
                       check=True)
        text = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                              check=True).stdout
        assert "vmla.f32" in text, (board, name)
        assert not re.search(r"\bv(fma|fms|fnma|fnms)", text), (board, name)


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("cpu,fpu,machine", [("cortex-m4", "fpv4-sp-d16", "mps2-an386"),
                                             ("cortex-m7", "fpv5-d16", "mps2-an500")])
def test_same_bits_on_cortex_m(host_result, tmp_path, cpu, fpu, machine):
    elf = tmp_path / "check.elf"
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}",
                    *host_build.CFLAGS, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-T",
                    str(DSP_CHECK / "link.ld"), f"-I{host_build.KERNEL_DIR}", str(SOURCE), *KERNEL_SOURCES,
                    "-o", str(elf), "-lm"],
                   check=True)
    run = subprocess.run(["qemu-system-arm", "-machine", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
                          "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert (run.stdout + run.stderr).split()[0] == host_result[0]
