"""benchmarks.run's table and plot writers on made-up rows: overflow shown, inference row, host table."""
from benchmarks.run import _blank_row, inference_row, markdown, plot


def _row(model, scheme, **values):
    row = _blank_row(model, scheme, "cortex-m7")
    row.update(scheme_resolved=scheme.replace("100", "99"), sram_budget_bytes=320 * 1024,
               flash_budget_bytes=1024 * 1024, **values)
    return row


def test_overflow_and_inference_rows(tmp_path):
    fits = _row("mcunet-5fps", "paper-100kb", fits=True, peak_sram_bytes=280 * 1024, flash_bytes=600 * 1024,
                instructions_per_step=320_000_000, instructions_per_inference=150_000_000,
                latency_ms_estimate=1481.4, inference_latency_ms_estimate=694.4,
                device_vs_host={"steps": 8, "bit_exact": True, "max_rel_diff": 0.0, "trained_values_differing": 0})
    over = _row("mcunet-5fps", "full", fits=False, measured_unbounded=True, peak_sram_bytes=1700 * 1024,
                flash_bytes=1100 * 1024, instructions_per_step=900_000_000, instructions_per_inference=150_000_000,
                overflow="qemu: mcunet-5fps (full) does not fit board cortex-m7: SRAM is 1 bytes short")
    inf = inference_row([fits, over], "mcunet-5fps", "cortex-m7")
    assert inf["scheme"] == "inference" and inf["fits"] and inf["instructions_per_inference"] == 150_000_000
    assert inf["instructions_per_step"] is None and "paper-100kb" in inf["inference_from"]
    text = markdown([inf, fits, over], "cortex-m7")
    assert "| mcunet-5fps | paper-100kb (paper-99kb) | yes | 280.0 | 600.0 | 320.0 | 150.0 | 1481 | bit-exact (8 steps) | 173 | 117.9 | 546 |" in text
    assert "| mcunet-5fps | full | NO (SRAM +1380 KB, flash +76 KB) | 1700.0 |" in text
    assert "- mcunet-5fps full does not fit cortex-m7: SRAM is 1 bytes short" in text
    plot([inf, fits, over], "cortex-m7", tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 0


def test_host_table():
    row = _blank_row("mbv2-w0.35", "last-2", "host")
    row.update(fits=True, scheme_resolved="last-2", ms_per_step=12.5, ms_per_inference=4.25, peak_sram_bytes=2048)
    inf = inference_row([row], "mbv2-w0.35", "host")
    assert inf is None  # only paper-100kb / bias-only builds give the inference row
    assert "| mbv2-w0.35 | last-2 | 12.5 | 4.2 | 2.0 |  |  |" in markdown([row], "host")
