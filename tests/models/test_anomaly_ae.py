"""The anomaly-detection autoencoder (models/anomaly_ae.py: MLPerf Tiny's size, which the device
figures use, and the small one of tests/mse_autoencoder.py) through both frontends: torch's dynamo
exporter writes its Linear layers as Gemm (transB = 1) after a Reshape, and the ONNX file quantizes,
on the same calibration frames, to the very int8 graph the torch module gives (the same quantization
hash), so `tvm-tinytrain train --loss mse` takes the same steps from either (slow: two C builds)."""
import json

import numpy as np
import onnx
import pytest
import torch

from tvm_tinytrain.cli import main
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.graph_file import quantization_hash
from tvm_tinytrain.models import anomaly_ae
from tvm_tinytrain.quantization.ptq import quantize

WIDTHS, INPUT_SHAPE = (40, 16, 4, 16, 40), (1, 5, 8)
SIZES = {"small": (WIDTHS, INPUT_SHAPE), "mlperf": (anomaly_ae.WIDTHS, anomaly_ae.INPUT_SHAPE)}
SMALL_AE = f'''
from tvm_tinytrain.models.anomaly_ae import build as ae


def build():
    return ae(widths={WIDTHS}, input_shape={INPUT_SHAPE})
'''


def export(size, folder):
    """(torch model, example input, the model's ONNX file from torch's dynamo exporter)."""
    widths, input_shape = SIZES[size]
    model, x = anomaly_ae.build(widths=widths, input_shape=input_shape)
    path = folder / f"ae_{size}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    return model, x, path


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.filterwarnings("ignore:.*dead output channels")  # random weights: the same warning for both imports
def test_onnx_file_quantizes_to_the_torch_modules_int8_graph(size, tmp_path):
    model, x, path = export(size, tmp_path)
    linears = len(SIZES[size][0]) - 1
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops[0] == "Reshape" and ops.count("Gemm") == linears and set(ops) == {"Reshape", "Gemm", "Relu"}
    rng = np.random.default_rng(0)
    frames = [rng.standard_normal(SIZES[size][1]).astype(np.float32) for _ in range(16)]
    from_torch_graph = quantize(to_graph(from_torch(model, x, name="ae")), frames, progress=False)
    from_onnx_graph = quantize(to_graph(from_onnx(path, name="ae")), frames, progress=False)
    assert [l.op for l in from_onnx_graph.layers] == ["flatten"] + ["linear"] * linears
    assert quantization_hash(from_onnx_graph) == quantization_hash(from_torch_graph)


@pytest.mark.slow
def test_mse_training_from_onnx_takes_the_torch_modules_steps(tmp_path, monkeypatch):
    _, _, path = export("small", tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small_ae.py").write_text(SMALL_AE)
    rng = np.random.default_rng(0)
    base = rng.standard_normal(INPUT_SHAPE).astype(np.float32)
    np.savez("frames.npz", x=(base + 0.3 * rng.standard_normal((12, *INPUT_SHAPE))).astype(np.float32))
    losses = {}
    for name, model in (("torch", "small_ae:build"), ("onnx", str(path))):
        main(["train", model, "--scheme", "full", "--loss", "mse", "--data", "npz:frames.npz:targets=inputs",
              "--epochs", "1", "--lr", "0.002", "--target", "host", "--out", name])
        losses[name] = json.loads((tmp_path / name / "history.json").read_text())["history"]["losses"]
    assert len(losses["torch"]) == 10 and all(np.isfinite(losses["torch"]))
    assert losses["onnx"] == losses["torch"]  # bit for bit
