"""`tvm-tinytrain train` end to end on real CIFAR-10 images: outputs, no silent overwrite,
a checkpoint that loads back (its predictions are the trained ones), the fp32 baseline
engine, and the same losses from the generated C on QEMU Cortex-M7 as on the host."""
import json
import re

import numpy as np
import pytest

from tvm_tinytrain.cli import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.targets.footprint import format_footprint
from tvm_tinytrain.targets.qemu import toolchain_missing
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.graph_file import quantization_hash
from tvm_tinytrain.training.checkpoint import load_checkpoint, save_checkpoint
from tvm_tinytrain.training.run import train

SMALL = dict(train_per_class=4, test_per_class=3, lr_weight=0.005, lr_bias=0.005, progress=False, log=lambda *a: None)
DATA = "cifar10:classes=0,1"


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, train("mcunet-5fps", "paper-100kb", DATA, 2, out, warmup_epochs=0.5, **SMALL)


def test_outputs_and_history(first):
    out, summary = first
    history = json.loads((out / "history.json").read_text())
    assert len(history["history"]["losses"]) == 2 * 8 and len(history["history"]["epochs"]) == 2
    assert all(np.isfinite(history["history"]["losses"]))
    assert (out / "loss.png").stat().st_size > 1000
    params, meta = load_checkpoint(out / "checkpoint.npz")
    assert meta["model"] == "mcunet-5fps" and meta["classes"] == ["airplane", "automobile"]
    assert params and all(v.dtype in (np.int8, np.int32, np.float32) for v in params.values())


def test_existing_outputs_are_not_overwritten(first):
    out, _ = first
    before = (out / "history.json").read_bytes()
    with pytest.raises(TinyTrainError, match="--force"):
        train("mcunet-5fps", "paper-100kb", DATA, 1, out, **SMALL)
    assert (out / "history.json").read_bytes() == before


def test_checkpoint_loads_back(first, tmp_path):
    out, summary = first
    resumed = train("mcunet-5fps", "paper-100kb", DATA, 1, tmp_path, init=str(out / "checkpoint.npz"), **SMALL)
    assert resumed["initial_accuracy"] == summary["test_accuracy"]
    with pytest.raises(TinyTrainError, match="not in the training program|expects"):
        train("mbv2-w0.35", "bias-only", DATA, 1, tmp_path / "other", init=str(out / "checkpoint.npz"), **SMALL)


def test_checkpoint_records_the_quantization_and_an_old_one_is_taken_with_a_warning(first, tmp_path):
    out, summary = first
    params, meta = load_checkpoint(out / "checkpoint.npz")
    assert meta["quantization"] == quantization_hash(load_backbone("mcunet-5fps", num_classes=2))
    old = {k: v for k, v in meta.items() if k not in ("format", "quantization")}  # as written before the hash
    save_checkpoint(tmp_path / "old.npz", params, old)
    logs = []
    resumed = train("mcunet-5fps", "paper-100kb", DATA, 1, tmp_path / "run", init=str(tmp_path / "old.npz"),
                    **{**SMALL, "log": logs.append})
    assert resumed["initial_accuracy"] == summary["test_accuracy"]
    assert any(line.startswith(f"warning: checkpoint {tmp_path / 'old.npz'} records no quantization")
               for line in logs)


def test_fp32_engine_learns(tmp_path):
    summary = train("mcunet-5fps", "last-1", DATA, 1, tmp_path, engine="fp32", **SMALL)
    assert np.isfinite(summary["history"]["losses"]).all() and not (tmp_path / "checkpoint.npz").exists()


def test_cli_reports_a_bad_dataset_in_one_line(tmp_path, capsys):
    assert main(["train", "mcunet-5fps", "--scheme", "bias-only", "--data", "imagenet", "--epochs", "1",
                 "--out", str(tmp_path)]) == 2
    assert "imagenet" in capsys.readouterr().err


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_device_run_gives_the_host_losses(first, tmp_path):
    lines = []
    device = train("mcunet-5fps", "paper-100kb", DATA, 1, tmp_path, target="cortex-m7",
                   **{**SMALL, "log": lines.append})
    host = train("mcunet-5fps", "paper-100kb", DATA, 1, tmp_path / "host", **SMALL)
    np.testing.assert_allclose(device["history"]["losses"], host["history"]["losses"], rtol=1e-5, atol=0)
    assert device["instructions_per_step"] > 1e6
    # peak SRAM and flash against the board's budgets, printed as the demo prints them
    m = device["device_memory"]
    assert m["peak_sram_bytes"] == m["static_sram_bytes"] + m["stack_bytes"] and 0 < m["stack_bytes"] < 16 << 10
    assert m["peak_sram_bytes"] <= m["sram_budget_bytes"] == 320 << 10 and m["flash_bytes"] <= 1 << 20
    assert re.search(r"peak SRAM [\d.]+ KB of 320\.0 KB \(\d+%\)", format_footprint(m)) and format_footprint(m) in lines
    assert json.loads((tmp_path / "history.json").read_text())["device_memory"] == m and "device_memory" not in host


def test_an_fp32_torch_model_is_quantized_on_the_training_data(tmp_path, monkeypatch):
    # the project's keyword-spotting CNN (random weights), given as module:function
    summary = train("tvm_tinytrain.models.kws_cnn:build", "last-1", "speech-commands", 1, tmp_path,
                    train_per_class=2, test_per_class=1, lr_weight=0.005, lr_bias=0.005, progress=False,
                    log=lambda *a: None)
    assert len(summary["history"]["losses"]) == 24 and np.isfinite(summary["history"]["losses"]).all()
    # a function taking num_classes gets the data's class count; one that does not keeps its head, which must fit
    two = train("tvm_tinytrain.models.kws_cnn:build", "last-1", "speech-commands:classes=yes,no", 1,
                tmp_path / "two", **SMALL)
    assert two["classes"] == ["yes", "no"]
    (tmp_path / "fixed_head.py").write_text("from tvm_tinytrain.models import kws_cnn\n"
                                            "def build():\n    return kws_cnn.build()\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TinyTrainError, match="12 outputs but speech-commands:classes=yes,no has 2 classes"):
        train("fixed_head:build", "last-1", "speech-commands:classes=yes,no", 1, tmp_path / "x", **SMALL)
