"""Bad `--sram-budget` values of plan and compile: each refused in one line naming the flag and the fix,
before any model is loaded or anything written."""
import pytest

from bad_input_harness import Case, run_bad


def plan(budget):
    return ["plan", "mcunet-5fps", "--scheme", "paper-100kb", "--sram-budget", budget]


def compile_(budget):
    return ["compile", "mcunet-5fps", "--scheme", "paper-100kb", "--out", "o", "--sram-budget", budget]


CASES = [
    Case("plan-budget-word", plan("lots"), ("--sram-budget 'lots'", "150K")),
    Case("plan-budget-zero", plan("0"), ("--sram-budget '0'", "150K")),
    Case("plan-budget-negative", [*plan("0")[:-2], "--sram-budget=-5K"], ("--sram-budget '-5K'", "150K")),
    Case("compile-budget-unit", compile_("150KB"), ("--sram-budget '150KB'", "150K")),
    Case("plan-budget-below-reserve", plan("3K"), ("--sram-budget '3K'", "reserved for the stack", "150K")),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_sram_budget(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
    assert not (tmp_path / "o").exists()
