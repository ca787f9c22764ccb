"""benchmarks.tinyengine_peer: TinyEngine built in place from ../shared/peers and counted on QEMU as ours
is; benchmarks.run's rows beside it (pairing by FPU, ratios, the one-line row when the peer is absent)."""
import struct
from pathlib import Path

import numpy as np
import pytest

from benchmarks import run as bench
from benchmarks import tinyengine_peer as te
from tvm_tinytrain.targets.qemu import toolchain_missing

# Figures checked in ../shared/peers/tinyengine/README.md (its flags, QEMU's double-precision FPU).
README = {"instructions_per_step": 103.9e6, "instructions_per_inference": 63.3e6, "peak_sram_bytes": 252.6e3,
          "flash_bytes": 665.5e3}


def test_absent_peers_give_a_one_line_row_and_no_exception(monkeypatch, tmp_path):
    monkeypatch.setenv(te.ENV_VAR, str(tmp_path))
    image = (np.zeros((3, 128, 128), np.int8), 3)
    rows = te.measure([image])
    assert [r["engine"] for r in rows] == list(te.VARIANTS)
    for r in rows:
        assert not r["measured"] and all(r[k] is None for k in te.FIGURES)
        assert "TinyEngine not measured" in r["reason"] and str(tmp_path) in r["reason"] and "\n" not in r["reason"]
    table = bench.tinyengine_markdown(rows)
    assert table.count("not measured: TinyEngine not measured") == len(rows)


def test_default_location_is_shared_peers_beside_the_checkout(monkeypatch):
    monkeypatch.delenv(te.ENV_VAR, raising=False)
    root, reason = te.locate()
    expected = Path(te.__file__).resolve().parent.parent.parent / "shared" / "peers" / "tinyengine"
    assert (root, reason) == (expected, None) or (root is None and str(expected.parent) in reason)


def test_requests_carry_the_input_in_hwc_order_as_getinput_expects():
    x = np.arange(3 * 128 * 128, dtype=np.int64).reshape(3, 128, 128).astype(np.int8)
    data = te.encode([(x, 7)])
    record = 8 + te.INPUT_BYTES
    assert len(data) == 2 * record
    assert struct.unpack("<ii", data[:8]) == (te.TRAIN, 7) and struct.unpack("<ii", data[record:record + 8]) == (te.INFER, 7)
    hwc = np.frombuffer(data[8:record], np.int8).reshape(128, 128, 3)
    assert hwc[5, 9, 2] == x[2, 5, 9] and hwc[127, 0, 1] == x[1, 127, 0]
    with pytest.raises(te.TinyTrainError, match="label 0..9"):
        te.encode([(x, 10)])


def test_ours_is_paired_with_tinyengine_of_the_same_fpu(monkeypatch):
    def fake_te(images, progress=None):
        return [{"engine": e, "flags": " ".join((*te.FLAGS, fpu)), "measured": True, "instructions_per_step": 100,
                 "instructions_per_inference": 50, "peak_sram_bytes": 200, "flash_bytes": 400 + ("sp" in fpu)}
                for e, fpu in te.VARIANTS.items()]

    def fake_ours(model, scheme, board, image, label, images):
        assert (model, scheme, images) == ("mcunet-5fps", "paper-49kb", ["imgs"])
        row = bench._blank_row(model, scheme, board)
        row.update(instructions_per_step=110 if board == "cortex-m7" else 120, instructions_per_inference=40,
                   peak_sram_bytes=100, flash_bytes=401, static_ram_bytes=90, stack_bytes=10)
        return row

    monkeypatch.setattr(te, "measure", fake_te)
    monkeypatch.setattr(bench, "measure_board", fake_ours)
    rows = bench.beside_tinyengine(None, 0, ["imgs"])
    ours = {r["target"]: r for r in rows[2:]}
    dp, sp = list(te.VARIANTS)
    assert ours["cortex-m7"]["ours_over_tinyengine"] == {"vs": dp, "instructions_per_step": 1.1,
                                                         "instructions_per_inference": 0.8, "peak_sram_bytes": 0.5,
                                                         "flash_bytes": 401 / 400}
    assert ours["cortex-m7-sp"]["ours_over_tinyengine"]["vs"] == sp
    assert ours["cortex-m7-sp"]["ours_over_tinyengine"]["flash_bytes"] == 1.0
    assert "| 1.10 / 0.80 / 0.50 / 1.00 |" in bench.tinyengine_markdown(rows)
    for r in ours.values():  # summary.json's keys
        assert {"engine", "model", "scheme", *te.FIGURES} <= set(r)


@pytest.mark.skipif(bool(toolchain_missing()) or te.locate()[0] is None,
                    reason="needs arm-none-eabi-gcc, qemu-system-arm and ../shared/peers/tinyengine")
def test_tinyengine_builds_in_place_and_counts_as_its_readme_says(tmp_path):
    from benchmarks.run import training_images

    images = training_images(1)
    (row,) = te.measure(images, engines=list(te.VARIANTS)[:1], folder=tmp_path)
    assert row["measured"], row.get("reason")
    for key, expected in README.items():
        assert abs(row[key] - expected) <= 0.1 * expected, (key, row[key])
    assert row["instructions_per_step"] > row["instructions_per_inference"] > 0
    assert row["peak_sram_bytes"] == row["static_ram_bytes"] + row["stack_bytes"] and row["stack_bytes"] > 0
    assert 0 <= row["predictions"][0] < 10
    assert not list(tmp_path.rglob("*.c")) and not list(tmp_path.rglob("*.h"))  # built in place, nothing copied
