"""`tvm-tinytrain train` with the MSE loss end to end: the anomaly-detection autoencoder
(models/anomaly_ae.py) on npz frames with targets=inputs, in the generated C on the host and
in the fp32 engine; history.json reports the held-out reconstruction error (not accuracy) and
the losses are the C program's MSE of the int8 output against the input."""
import json

import numpy as np
import pytest

from tvm_tinytrain.cli import main
from tvm_tinytrain.targets.qemu import toolchain_missing

MODEL = "tvm_tinytrain.models.anomaly_ae:build"
SMALL_AE = '''
from tvm_tinytrain.models.anomaly_ae import build as ae


def build():
    return ae(widths=(40, 16, 4, 16, 40), input_shape=(1, 5, 8))
'''


def _frames(path, n, shape):
    rng = np.random.default_rng(0)
    base = rng.standard_normal(shape).astype(np.float32)
    np.savez(path, x=(base + 0.3 * rng.standard_normal((n, *shape))).astype(np.float32))
    return f"npz:{path}:targets=inputs"


def _train(model, spec, out, *extra):
    argv = ["train", model, "--scheme", "full", "--loss", "mse", "--data", spec, "--epochs", "1", "--lr", "0.002",
            "--out", str(out), *extra]
    assert main(argv) in (0, None)
    return json.loads((out / "history.json").read_text())


@pytest.mark.parametrize("engine", ["c", "fp32"])
def test_autoencoder_trains_with_mse_on_the_host(tmp_path, engine, capsys):
    spec = _frames(tmp_path / "frames.npz", 30, (1, 5, 128))
    summary = _train(MODEL, spec, tmp_path / "run", "--target", "host", "--engine", engine)
    hist = summary["history"]
    assert summary["loss"] == "mse" and hist["metric"] == "error" and summary["classes"] == ["all"]
    assert "test_accuracy" not in summary and "initial_accuracy" not in hist
    n_train = len(hist["losses"])
    assert n_train == 24 and all(np.isfinite(hist["losses"])) and min(hist["losses"]) > 0
    assert hist["final_error"] == summary["test_error"] == hist["epochs"][0]["test_error"] > 0
    assert hist["initial_error"] == summary["initial_error"] > 0
    # MSE of an output against its input: the first step's loss is of the same size as the held-out error
    assert 0.2 < hist["losses"][0] / hist["initial_error"] < 5
    out = capsys.readouterr().out
    assert "640 outputs, MSE loss" in out and "test reconstruction error (MSE)" in out and "accuracy" not in out
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "run" / "checkpoint.npz").exists() == (engine == "c")


@pytest.mark.skipif(toolchain_missing(), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_autoencoder_trains_with_mse_on_cortex_m7_as_on_the_host(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small_ae.py").write_text(SMALL_AE)
    spec = _frames(tmp_path / "frames.npz", 12, (1, 5, 8))
    host = _train("small_ae:build", spec, tmp_path / "host", "--target", "host")
    device = _train("small_ae:build", spec, tmp_path / "m7", "--target", "cortex-m7")
    assert device["history"]["losses"] == host["history"]["losses"]  # bit for bit
    assert device["test_error"] == host["test_error"] and device["instructions_per_step"] > 0
