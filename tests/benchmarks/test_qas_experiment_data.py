"""benchmarks.qas_experiment --data: tiny runs on Fashion-MNIST (MCUNet) and Speech Commands (the KWS CNN)
through main, fp32 and int8 variants each; the data set is part of the summary's setup, so runs of other
data are never kept beside them; pairs of model and data that cannot work are refused in one line."""
import json
from pathlib import Path

import pytest
import torch

from benchmarks import qas_experiment as qe
from benchmarks.kws_pretrain import PRETRAIN_CLASSES, WEIGHTS
from tvm_tinytrain.models.kws_cnn import build

REPO = Path(__file__).resolve().parents[2]


def config(**changes):
    return {"model": "mcunet-5fps", "data": "cifar10", "scheme": "last-2", "train_per_class": 100,
            "test_per_class": 100, "epochs": 1, "warmup_epochs": 0.5, **changes}


@pytest.mark.parametrize("argv,fix", [(["--model", "kws"], "--data speech-commands"),
                                      (["--model", "kws", "--data", "fashion-mnist"], "--data speech-commands"),
                                      (["--data", "speech-commands"], "--model kws")])
def test_model_and_data_that_cannot_work_are_refused(argv, fix):
    with pytest.raises(SystemExit) as refused:
        qe.main(argv)
    message = str(refused.value.code)
    assert fix in message and "\n" not in message


def test_per_class_takes_all_or_a_positive_count():
    assert qe.per_class("all") is None and qe.per_class("12") == 12
    for bad in ("0", "-3", "many"):
        with pytest.raises(Exception, match="per class"):
            qe.per_class(bad)


def test_previous_runs_are_kept_only_for_the_same_data(tmp_path):
    row = {"variant": "fp32", "lr": 0.005, "seed": 0}
    before_data = config()
    del before_data["data"]  # a summary written before --data existed
    (tmp_path / "summary.json").write_text(json.dumps({"config": before_data, "results": [row]}))
    assert qe.previous_runs(tmp_path, config()) == [row]
    assert qe.previous_runs(tmp_path, config(data="fashion-mnist")) == []
    (tmp_path / "summary.json").write_text(json.dumps({"config": config(data="fashion-mnist"), "results": [row]}))
    assert qe.previous_runs(tmp_path, config(data="fashion-mnist")) == [row]
    assert qe.previous_runs(tmp_path, config()) == []
    assert qe.previous_runs(tmp_path / "none", config()) == []


@pytest.fixture
def kws_weights(tmp_path, monkeypatch):
    """Random 8-class KWS weights where `--model kws` looks for them (out/kws/ of the working folder, which
    the spawned workers share); the repository stays importable from there."""
    model, _ = build(num_classes=len(PRETRAIN_CLASSES), seed=5)
    (tmp_path / "out" / "kws").mkdir(parents=True)
    torch.save(model.state_dict(), tmp_path / "out" / "kws" / WEIGHTS)
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("model,data,variants,classes,shape", [
    ("mcunet-5fps", "fashion-mnist", ["fp32", "int8+QAS"], 10, [3, 128, 128]),
    ("kws", "speech-commands", ["fp32", "int8-paper"], 12, [1, 49, 40])])
def test_tiny_run_records_its_data(tmp_path, kws_weights, model, data, variants, classes, shape):
    out = tmp_path / "run"
    out.mkdir()
    cifar_cfg = config(model=model, train_per_class=1, test_per_class=1)
    cifar_row = {"variant": variants[0], "lr": 0.005, "seed": 0, "accuracy": 0.9}
    (out / "summary.json").write_text(json.dumps({"config": cifar_cfg, "results": [cifar_row]}))
    argv = ["--model", model, "--data", data, "--train-per-class", "1", "--test-per-class", "1", "--epochs", "1",
            "--variants", *variants, "--workers", "1", "--out", str(out)]
    qe.main(argv)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"] == {**cifar_cfg, "data": data}
    rows = summary["results"]
    assert sorted(r["variant"] for r in rows) == sorted(variants)  # the CIFAR-10 row is not kept
    for r in rows:
        assert (r["n_train"], r["n_test"], r["input_shape"]) == (classes, classes, shape)
        assert len(r["losses"]) == classes and len(r["epochs"]) == 1 and 0 <= r["accuracy"] <= 1
    assert qe.DATA[data] in (out / "results.md").read_text() and (out / "qas.png").stat().st_size > 0
    qe.main(argv)  # the same setup again: every run is kept, none is repeated
    assert json.loads((out / "summary.json").read_text()) == summary
