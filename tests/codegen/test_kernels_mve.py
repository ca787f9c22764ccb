"""The Cortex-M55 Helium (MVE) path of the int8 1x1 conv (codegen/kernels/tt_pointwise_mve.h) against the portable
loop, bit for bit, bare metal on QEMU mps3-an547 (the real VMLADAVA / VMULH / VRSHL; no host emulation exists):
mve_check/check_mve.c on cases built for the path's edges, and the DSP check (dsp_check/check_dsp.c) built for the
M55, where every 1x1 it makes, the fused row blocks' included, takes the MVE path. Skipped without
qemu-system-arm / arm-none-eabi-gcc.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_kernels_forward import CHECK_SOURCES as DSP_CHECK_SOURCES, DSP_OUTPUT
from tvm_tinytrain.codegen import host_build

MVE_CHECK = Path(__file__).resolve().parent / "mve_check"
MVE_OUTPUT = re.compile(r"mve check \(TT_USE_MVE=1\): (\d+) cases, (\d+) bytes, 0 mismatches")

pytestmark = pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")


def _run_on_m55(sources, elf):
    """Build sources bare metal for the Cortex-M55 (MVE on, link.ld's memory map) and run them on mps3-an547;
    the semihosting output (QEMU's stdout + stderr) and the exit status."""
    cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *host_build.CFLAGS,
           "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-T", str(MVE_CHECK / "link.ld"),
           f"-I{host_build.KERNEL_DIR}", *map(str, sources), "-o", str(elf)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run(["qemu-system-arm", "-machine", "mps3-an547", "-cpu", "cortex-m55", "-nographic", "-monitor",
                          "none", "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel",
                          str(elf)], capture_output=True, text=True, timeout=120)
    return run.stdout + run.stderr, run.returncode


def test_mve_pointwise_matches_portable_on_m55(tmp_path):
    """check_mve.c: tt_conv2d_1x1_s8 and tt_conv2d_1x1_strided_out_s8 on their Helium path equal the portable loop on
    1500 cases (channel and pixel tails, extreme zero points, multipliers, biases and accumulators, every shift)."""
    sources = [MVE_CHECK / "check_mve.c", MVE_CHECK / "ref_kernels.c",
               *(host_build.KERNEL_DIR / f"{n}.c" for n in ("tt_conv2d_1x1_s8", "tt_conv2d_1x1_split_s8"))]
    out, rc = _run_on_m55(sources, tmp_path / "check_mve.elf")
    assert rc == 0 and MVE_OUTPUT.search(out), out


@pytest.mark.slow  # ~11 s: the M4 / M7 runs of the same check are in the default suite
def test_dsp_check_on_m55(tmp_path):
    """check_dsp.c on the M55: the DSP paths with the 1x1 on Helium (plain, strided out, and inside the fused row
    blocks) equal the portable loops."""
    out, rc = _run_on_m55(DSP_CHECK_SOURCES, tmp_path / "check_dsp.elf")
    assert rc == 0 and DSP_OUTPUT.search(out), out
