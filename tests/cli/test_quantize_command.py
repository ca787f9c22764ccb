"""`tvm-tinytrain quantize` and the commands taking its file: the same int8 graph from the file,
from `compile --data` on the spot and in a run's checkpoint (one quantization hash), files never
replaced without --force, and `train --init` refused across quantizations."""
import json

import pytest

from tvm_tinytrain import graph_file
from tvm_tinytrain.cli import main
from tvm_tinytrain.model_spec import load_model
from tvm_tinytrain.training.checkpoint import load_checkpoint

MODEL = "tvm_tinytrain.models.tiny_resnet:build"
TRAIN = ["--scheme", "last-1", "--data", "cifar10", "--epochs", "1", "--train-per-class", "1",
         "--test-per-class", "1", "--lr-weight", "0.005", "--lr-bias", "0.005"]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    folder = tmp_path_factory.mktemp("q")
    assert main(["quantize", MODEL, "--data", "cifar10", "--calibration", "16", "--out", str(folder / "net")]) == 0
    json_path = folder / "net.json"
    return json_path, graph_file.quantization_hash(graph_file.load(json_path))


def test_quantize_is_deterministic_and_never_overwrites(quantized, tmp_path, capsys):
    json_path, digest = quantized
    before = {p.name: p.read_bytes() for p in json_path.parent.iterdir()}
    assert set(before) == {"net.json", "net.npz"}
    assert main(["quantize", MODEL, "--data", "cifar10", "--calibration", "16", "--out", str(json_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in json_path.parent.iterdir()} == before
    assert main(["quantize", MODEL, "--data", "cifar10", "--calibration", "16", "--out", str(json_path),
                 "--force"]) == 0
    assert {p.name: p.read_bytes() for p in json_path.parent.iterdir()} == before  # the same draw, the same bytes
    assert main(["quantize", MODEL, "--data", "cifar10", "--calibration", "16", "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["quantization_hash"] == digest
    assert (tmp_path / "again.npz").read_bytes() == before["net.npz"]
    assert digest[:16] in capsys.readouterr().out


def test_inspect_and_plan_take_the_file(quantized, capsys):
    json_path, _ = quantized
    assert main(["inspect", str(json_path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["quantized"] and table["model"] == "tiny_resnet" and table["input_shape"] == [3, 32, 32]
    assert main(["plan", str(json_path), "--scheme", "last-1"]) == 0
    assert "random calibration" not in capsys.readouterr().out  # the file's own int8 graph is planned


def test_compile_on_the_spot_equals_the_file(quantized, tmp_path, capsys):
    json_path, digest = quantized
    assert main(["compile", MODEL, "--scheme", "last-1", "--out", str(tmp_path / "x")]) == 2
    assert "tvm-tinytrain quantize" in capsys.readouterr().err
    assert main(["compile", MODEL, "--scheme", "last-1", "--data", "cifar10", "--calibration", "16",
                 "--out", str(tmp_path / "spot")]) == 0
    assert main(["compile", str(json_path), "--scheme", "last-1", "--out", str(tmp_path / "file")]) == 0
    spot, file = (json.loads((tmp_path / d / "memory.json").read_text()) for d in ("spot", "file"))
    assert spot["quantization"] == file["quantization"] == digest
    assert (tmp_path / "spot" / "model.c").read_bytes() == (tmp_path / "file" / "model.c").read_bytes()


def test_train_records_the_quantization_and_init_checks_it(quantized, tmp_path, capsys):
    json_path, digest = quantized
    assert main(["train", str(json_path), *TRAIN, "--out", str(tmp_path / "a")]) == 0
    ck = tmp_path / "a" / "checkpoint.npz"
    assert load_checkpoint(ck)[1]["quantization"] == digest
    assert main(["train", str(json_path), *TRAIN, "--init", str(ck), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    # the fp32 model quantized by train itself (64 samples) is another int8 graph than the 16-sample file
    assert main(["train", MODEL, *TRAIN, "--init", str(ck), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert digest in err and "quantize once with `tvm-tinytrain quantize`" in err
    assert not (tmp_path / "c" / "checkpoint.npz").exists()


def test_analyze_and_search_take_the_file(quantized, tmp_path, capsys):
    json_path, _ = quantized
    contrib, scheme = tmp_path / "contrib.json", tmp_path / "scheme.json"
    assert main(["analyze", str(json_path), "--data", "cifar10", "--layers", "5", "--ratios", "1", "--bias-depths",
                 "1", "--train-per-class", "1", "--test-per-class", "1", "--workers", "1", "--out", str(contrib)]) == 0
    assert len(json.loads(contrib.read_text())["runs"]) == 3
    assert main(["search", str(json_path), "--contrib", str(contrib), "--budget", "100KB", "--out", str(scheme)]) == 0
    assert json.loads(scheme.read_text())["model"] == "tiny_resnet"
    assert main(["compile", str(json_path), "--scheme", str(scheme), "--out", str(tmp_path / "p")]) == 0


USER_MODEL = '''
import torch
from torch import nn


def build(num_classes: int = 10):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, num_classes))
    return model.eval(), torch.zeros(1, 3, 32, 32)
'''


def test_a_model_taking_num_classes_is_quantized_with_the_datas_head(tmp_path, monkeypatch, capsys):
    """`quantize` (and `compile --data`) give a function taking num_classes the data's class count, so
    the file trains on that data (it used to keep the function's default head of 10)."""
    (tmp_path / "user_head_model.py").write_text(USER_MODEL)
    monkeypatch.chdir(tmp_path)
    assert main(["quantize", "user_head_model:build", "--data", "cifar10:classes=0,1,2", "--calibration", "6",
                 "--out", "m.json"]) == 0
    assert load_model("m.json").num_classes == 3
    assert main(["compile", "user_head_model:build", "--data", "cifar10:classes=0,1,2", "--calibration", "6",
                 "--scheme", "bias-only", "--out", "build"]) == 0
    assert json.loads((tmp_path / "build" / "memory.json").read_text())["num_classes"] == 3
