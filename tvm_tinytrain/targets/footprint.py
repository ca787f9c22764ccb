"""Peak SRAM and flash of a firmware run against its board's budgets, in one format: the demo and
`train --target cortex-m*` print the same lines, from the same figures (static SRAM and flash from
arm-none-eabi-size, the stack's high-water mark the painted stack gave when the program ended)."""
from __future__ import annotations

from .qemu import parse_size


def footprint(firmware, stack_bytes: int) -> dict:
    """The figures in bytes: `peak_sram_bytes` (static + stack), `flash_bytes` and the budgets."""
    board = firmware.board
    return {"board": board["name"], "peak_sram_bytes": firmware.ram_bytes + stack_bytes,
            "static_sram_bytes": firmware.ram_bytes, "stack_bytes": stack_bytes, "flash_bytes": firmware.flash_bytes,
            "sram_budget_bytes": parse_size(board["ram"]["length"]),
            "flash_budget_bytes": parse_size(board["flash"]["length"])}


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def format_footprint(f: dict) -> str:
    """Three lines: the board, then peak SRAM and flash, each with its share of the budget."""
    peak, ram, flash, flash_budget = (f["peak_sram_bytes"], f["sram_budget_bytes"], f["flash_bytes"],
                                      f["flash_budget_bytes"])
    return (f"memory on {f['board']}:\n"
            f"  peak SRAM {kb(peak)} of {kb(ram)} ({100 * peak / ram:.0f}%): static {kb(f['static_sram_bytes'])} "
            f"(activation arena, trained parameters) + stack high-water mark "
            f"{f['stack_bytes']} B\n"
            f"  flash     {kb(flash)} of {kb(flash_budget)} ({100 * flash / flash_budget:.0f}%): "
            f"code, frozen weights and the initial trained parameters")
