"""benchmarks.memory_plan's figures are the generated program's: its arena, first-fit arena and SRAM
parameters are memory.json's, and its peak is the liveness that arena holds (no sample when the sample
arrives in rows, codegen/input_stream.py; the whole image in the arena when the stem trains)."""
import pytest

import benchmarks.memory_plan as memory_plan


@pytest.mark.parametrize("model, scheme, rows", [
    ("mbv2-w0.35", "paper-100kb", True),  # streamed: its peak was the stem, beside the 48 KB sample
    ("mcunet-5fps", "full", False),       # the stem trains: the whole image, in the arena
])
def test_figures_are_the_generated_programs(monkeypatch, model, scheme, rows):
    runs, original = [], memory_plan.compile  # the Compiled of the benchmark's run: the project to agree with
    monkeypatch.setattr(memory_plan, "compile", lambda *a, **k: runs.append(original(*a, **k)) or runs[-1])
    row = memory_plan.measure(model, scheme)
    (compiled,) = runs
    memory, whole = compiled.project.memory, compiled.program.memory  # whole: the liveness with the sample
    assert row["input_rows"] is memory["input"]["rows"] is rows
    assert (row["arena_bytes"], row["first_fit_arena_bytes"], row["sram_param_bytes"]) == (
        memory["arena_bytes"], memory["first_fit_arena_bytes"], memory["updated_param_bytes"])
    assert row["peak_bytes"] == memory["peak_live_bytes"] <= row["arena_bytes"]
    assert ("x" in {b["tensor"] for b in memory["plan"]}) is not rows
    if rows:
        assert row["peak_bytes"] < whole.peak_bytes and not row["peak_at"].startswith("conv_dw_pw_rows_s8")
    else:
        assert row["peak_bytes"] == whole.peak_bytes
    assert row["naive_peak_bytes"] > row["peak_bytes"]  # the order autodiff emits, the whole sample
