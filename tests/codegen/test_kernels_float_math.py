"""tt_expf / tt_logf, the loss's exp and log: within a few 1e-7 of the exact values, and the same
bits on this host and on emulated Cortex-M4 / M7 (newlib's expf / logf differ on the M4, which
made a training run on it drift from the host's)."""
import subprocess
from pathlib import Path

import pytest

from tvm_tinytrain.codegen import host_build
from tvm_tinytrain.targets.qemu import toolchain_missing


HERE = Path(__file__).resolve().parent
DSP_CHECK = HERE / "dsp_check"  # its link.ld serves any bare-metal check
SOURCE = HERE / "float_math" / "check_float_math.c"


@pytest.fixture(scope="module")
def host_result(tmp_path_factory):
    exe = tmp_path_factory.mktemp("float_math") / "check"
    subprocess.run(["gcc", *host_build.CFLAGS, f"-I{host_build.KERNEL_DIR}", str(SOURCE), "-o", str(exe), "-lm"],
                   check=True)
    digest, err_exp, err_log = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    return digest, float(err_exp), float(err_log)


def test_accuracy(host_result):
    _, err_exp, err_log = host_result
    assert err_exp < 2e-7 and err_log < 3e-7


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("cpu,fpu,machine", [("cortex-m4", "fpv4-sp-d16", "mps2-an386"),
                                             ("cortex-m7", "fpv5-d16", "mps2-an500")])
def test_same_bits_on_cortex_m(host_result, tmp_path, cpu, fpu, machine):
    elf = tmp_path / "check.elf"
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}",
                    *host_build.CFLAGS, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-T",
                    str(DSP_CHECK / "link.ld"), f"-I{host_build.KERNEL_DIR}", str(SOURCE), "-o", str(elf), "-lm"],
                   check=True)
    run = subprocess.run(["qemu-system-arm", "-machine", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
                          "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert (run.stdout + run.stderr).split()[0] == host_result[0]
