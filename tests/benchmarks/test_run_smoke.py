"""benchmarks.run end to end on one model and scheme: MCUNet-5fps, paper-100kb, Cortex-M7 under QEMU."""
import json

import pytest

from benchmarks.run import main
from tvm_tinytrain.targets.qemu import toolchain_missing

FIELDS = {"model", "scheme", "target", "fits", "peak_sram_bytes", "flash_bytes", "instructions_per_step",
          "instructions_per_inference", "latency_ms_estimate", "overflow"}


@pytest.mark.skipif(bool(toolchain_missing()), reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_run_smoke(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file in the output folder survives
    main(["--target", "cortex-m7", "--quick", "--models", "mcunet-5fps", "--schemes", "paper-100kb",
          "--no-peers", "--out", str(out)])

    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == "cortex-m7" and summary["peers"] is None
    rows = {r["scheme"]: r for r in summary["rows"]}
    assert set(rows) == {"inference", "paper-100kb"}
    train = rows["paper-100kb"]
    assert FIELDS <= set(train)
    assert train["model"] == "mcunet-5fps" and train["target"] == "cortex-m7"
    assert train["fits"] is True and train["overflow"] is None and train["error"] is None
    assert train["instructions_per_step"] > train["instructions_per_inference"] > 0
    assert 0 < train["peak_sram_bytes"] <= 320 * 1024
    assert train["peak_sram_bytes"] > train["static_ram_bytes"] > 0
    assert 0 < train["flash_bytes"] <= 1024 * 1024
    assert train["latency_ms_estimate"] == pytest.approx(train["instructions_per_step"] / 216e6 * 1e3)
    assert "216 MHz" in train["latency_note"]
    assert train["paper_peak_kb"] == 173
    inf = rows["inference"]
    assert inf["instructions_per_inference"] == train["instructions_per_inference"]
    assert "paper-100kb" in inf["inference_from"]
    assert (out / "benchmark.png").stat().st_size > 0
    assert "| mcunet-5fps | paper-100kb" in (out / "results.md").read_text()
    assert (out / "notes.txt").read_text() == "mine"
