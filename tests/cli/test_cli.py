"""`tvm-tinytrain inspect` / `convert-weights` through the real entry point: tables, JSON, clean errors."""
import json
import subprocess
import sys

import pytest

from tvm_tinytrain.cli import main

# Paper (DESIGN.md section 3): 17M / 19M / 23M MACs at 128x128.
PAPER_MMACS = {"mbv2-w0.35": 17, "proxyless-w0.3": 19, "mcunet-5fps": 23}


@pytest.mark.parametrize("name", sorted(PAPER_MMACS))
def test_inspect_json_matches_paper_macs(name, capsys):
    assert main(["inspect", name, "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    convs = [row for row in table["layers"] if row["index"] is not None]
    assert [row["index"] for row in convs] == list(range(len(convs)))
    total = sum(row["macs"] for row in table["layers"])
    assert abs(total / 1e6 - PAPER_MMACS[name]) < 1.0
    first = table["layers"][0]
    assert first["in_shape"] == [3, 128, 128] and first["out_shape"] == [16, 64, 64]
    assert first["weight_bytes"] == 16 * 27 + 4 * 16 and first["act_bytes"] == 16 * 64 * 64


def test_inspect_table_text(capsys):
    assert main(["inspect", "mbv2-w0.35"]) == 0
    out = capsys.readouterr().out
    assert "blocks.16.pointwise2" in out and "conv2d/dw3x3" in out and "total" in out
    assert "   50  blocks.16.pointwise2" in out and "   51  classifier" in out


def test_inspect_torch_function(capsys):
    assert main(["inspect", "tvm_tinytrain.models.tiny_resnet:build"]) == 0
    out = capsys.readouterr().out
    assert "maxpool" in out and "layer2.downsample.0" in out


@pytest.mark.parametrize("argv, message", [
    (["inspect", "resnet50"], "mbv2-w0.35"),
    (["inspect", "no_such_module:build"], "cannot import"),
    (["inspect", "tvm_tinytrain.models.tiny_resnet:nothing"], "has no function"),
    (["inspect", "missing.onnx"], "does not exist"),
    (["convert-weights", "missing.pkl"], "missing.pkl"),
])
def test_errors_are_one_line_without_traceback(argv, message):
    result = subprocess.run([sys.executable, "-m", "tvm_tinytrain.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr

