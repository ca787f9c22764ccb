"""benchmarks.run end to end on one model and scheme: MCUNet-5fps, paper-100kb, Cortex-M7 under QEMU."""
import json

import pytest

from benchmarks.run import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.targets.qemu import toolchain_missing

FIELDS = {"model", "scheme", "target", "fits", "peak_sram_bytes", "flash_bytes", "instructions_per_step",
          "instructions_per_inference", "latency_ms_estimate", "overflow", "device_vs_host"}


@pytest.mark.skipif(bool(toolchain_missing()), reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_run_smoke(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file in the output folder survives
    main(["--target", "cortex-m7", "--quick", "--models", "mcunet-5fps", "--schemes", "paper-100kb",
          "--check-steps", "2", "--no-peers", "--no-tinyengine", "--out", str(out)])

    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == "cortex-m7" and summary["peers"] is None and summary["check_steps"] == 2
    assert summary["tinyengine"] is None and "Beside TinyEngine" not in (out / "results.md").read_text()
    assert len(summary["commit"]) == 40
    rows = {r["scheme"]: r for r in summary["rows"]}
    assert set(rows) == {"inference", "paper-100kb"}
    train = rows["paper-100kb"]
    assert FIELDS <= set(train)
    assert train["model"] == "mcunet-5fps" and train["target"] == "cortex-m7"
    assert train["fits"] is True and train["overflow"] is None and train["error"] is None
    assert not train["measured_unbounded"]
    assert train["instructions_per_step"] > train["instructions_per_inference"] > 0
    low, high = train["instructions_per_step_range"]
    assert low <= train["instructions_per_step"] <= high
    assert 0 < train["peak_sram_bytes"] <= train["sram_budget_bytes"] == 320 * 1024
    assert train["peak_sram_bytes"] > train["static_ram_bytes"] > 0
    assert 0 < train["flash_bytes"] <= train["flash_budget_bytes"] == 1024 * 1024
    assert train["latency_ms_estimate"] == pytest.approx(train["instructions_per_step"] / 216e6 * 1e3)
    assert "216 MHz" in train["latency_note"] and "cycles ~ instructions" in train["latency_note"]
    assert train["paper_peak_kb"] == 173 and train["paper_latency_ms"] == 546
    check = train["device_vs_host"]  # 2 steps on CIFAR-10 training images: QEMU == host build, bit for bit
    assert check["steps"] == 2 and check["bit_exact"] and check["predict_equal"]
    assert check["device_losses"] == check["host_losses"] and all(loss > 0 for loss in check["host_losses"])
    assert check["trained_values_differing"] == 0 and check["trained_values"] > 0
    inf = rows["inference"]
    assert inf["instructions_per_inference"] == train["instructions_per_inference"]
    assert "paper-100kb" in inf["inference_from"]
    assert (out / "benchmark.png").stat().st_size > 0
    text = (out / "results.md").read_text()
    assert "| mcunet-5fps | paper-100kb (paper-99kb) | yes |" in text and "117.9 M cycles" in text
    assert (out / "notes.txt").read_text() == "mine"

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.md").write_text("a user's notes")
    with pytest.raises(TinyTrainError, match="not written by a previous benchmarks.run"):
        main(["--target", "cortex-m7", "--no-peers", "--out", str(tmp_path / "other")])
    assert (tmp_path / "other" / "results.md").read_text() == "a user's notes"
