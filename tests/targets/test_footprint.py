"""The one memory report of a board run (targets/footprint.py), which the demo and `train --target`
both print: the figures add up and the text is the demo's, as the README shows it."""
from types import SimpleNamespace

from tvm_tinytrain.targets.footprint import footprint, format_footprint
from tvm_tinytrain.targets.qemu import load_board

# the README's demo output (static 170.2 KB, stack 2192 B, flash 716.7 KB on the STM32F746 budget)
README = """memory on cortex-m7:
  peak SRAM 172.4 KB of 320.0 KB (54%): static 170.2 KB (activation arena, trained parameters) + stack high-water mark 2192 B
  flash     716.7 KB of 1024.0 KB (70%): code, frozen weights and the initial trained parameters"""


def test_figures_against_the_boards_budgets():
    firmware = SimpleNamespace(board=load_board("cortex-m4"), ram_bytes=100_000, flash_bytes=300_000)
    f = footprint(firmware, 1_500)
    assert f == {"board": "cortex-m4", "peak_sram_bytes": 101_500, "static_sram_bytes": 100_000, "stack_bytes": 1_500,
                 "flash_bytes": 300_000, "sram_budget_bytes": f["sram_budget_bytes"],
                 "flash_budget_bytes": f["flash_budget_bytes"]}
    assert 0 < f["sram_budget_bytes"] < f["flash_budget_bytes"]


def test_text_is_the_demos():
    firmware = SimpleNamespace(board=load_board("cortex-m7"), ram_bytes=174_332, flash_bytes=733_916)
    assert format_footprint(footprint(firmware, 2192)) == README
