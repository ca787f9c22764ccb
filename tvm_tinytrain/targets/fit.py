"""Does a generated project fit a board?  Asked by `compile --target BOARD` before it writes
anything: the firmware is linked in a private temporary folder against the board's flash and
SRAM budgets (qemu.Firmware, as `train --target` does), so a program over budget is refused
with the same message (the bytes missing, the largest part) and --out stays as it was."""
from __future__ import annotations

import shutil
import tempfile

from tvm_tinytrain.errors import TinyTrainError

from .qemu import GCC, SIZE, Firmware, load_board


def require_toolchain(board) -> dict:
    """The board, if the ARM toolchain the fit check links with is installed (asked before any
    expensive work), else the error."""
    board = load_board(board)
    missing = [tool for tool in (GCC, SIZE) if shutil.which(tool) is None]
    if missing:
        raise TinyTrainError(f"compile --target {board['name']}: {', '.join(missing)} not found, so whether the "
                             f"program fits the board's {board['flash']['length']} flash and {board['ram']['length']} "
                             f"SRAM cannot be checked; install gcc-arm-none-eabi and libnewlib-arm-none-eabi, or "
                             f"use --target host for portable C")
    return board


def check_fit(project, board) -> dict:
    """Flash and static SRAM bytes of `project` (a codegen Project) linked for `board` and the
    board's budgets, or the budget error."""
    from tvm_tinytrain.codegen.emit import write_project

    board = require_toolchain(board)
    with tempfile.TemporaryDirectory(prefix="tinytrain-fit-") as tmp:
        write_project(project, tmp, target=board["name"])
        firmware = Firmware(tmp, board)
    return {"flash_bytes": firmware.flash_bytes, "ram_bytes": firmware.ram_bytes,
            "flash_budget": board["flash"]["length"], "ram_budget": board["ram"]["length"]}
