"""Boards built as their chips are: a single-precision FPU board's firmware holds no double-precision
instruction (the STM32F746 and the M4 would fault on one), even where the C converts float to int64
(as tt_sgd_s32 does), which libgcc of a double-precision build does with vcvt.f64."""
import shutil
import subprocess

import pytest

from tvm_tinytrain.targets.qemu import Firmware, load_board

from projects import TOY_C, write_toy

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                shutil.which("arm-none-eabi-objdump") is None, reason="needs arm-none-eabi-gcc")

SINGLE_PRECISION = ("cortex-m4", "cortex-m7-sp", "stm32f746-disco")


def double_precision_instructions(tmp_path, board) -> list[str]:
    folder = write_toy(tmp_path / board)
    (folder / "model.c").write_text(TOY_C.replace(
        "bias[label & 1] += input[0];",
        "volatile float step = 0.5f * (float)input[0];\n    bias[label & 1] += (int32_t)(int64_t)step;"))
    fw = Firmware(folder, board, transport="uart" if "qemu_machine" not in load_board(board) else "semihost")
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.elf)], capture_output=True, text=True,
                          check=True).stdout
    return [line for line in text.splitlines() if ".f64" in line]


def test_single_precision_boards_say_so_in_their_flags():
    for board in SINGLE_PRECISION:
        fpu = [f for f in load_board(board)["cflags"] if f.startswith("-mfpu=")]
        assert len(fpu) == 1 and "-sp-" in fpu[0], (board, fpu)


@pytest.mark.parametrize("board", SINGLE_PRECISION)
def test_single_precision_firmware_has_no_double_precision_instruction(tmp_path, board):
    assert double_precision_instructions(tmp_path, board) == []


def test_the_check_sees_double_precision_instructions(tmp_path):
    assert double_precision_instructions(tmp_path, "cortex-m7")  # QEMU's M7: fpv5-d16, libgcc uses vcvt.f64
