"""`tvm-tinytrain search`: the model comes from the command line; a results file is data that
is checked, never a source of code to import or call."""
import json
import sys

import pytest

from tvm_tinytrain.cli import main

EVIL = '''
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("the results file ran code")
def boom():
    pathlib.Path(__file__).with_name("CALLED").write_text("the results file called a function")
    raise SystemExit(0)
'''


def _results(model, runs=None):
    return {"config": {"model": model, "data": "cifar10", "train_per_class": 20, "test_per_class": 20,
                       "epochs": 1, "lr": 0.01, "seed": 0},
            "runs": runs or {"baseline": {"accuracy": 0.5, "loss": 1.0, "seconds": 1.0, "kind": "baseline",
                                          "k": 0, "layer": -1, "ratio": 0.0}}}


def test_a_results_file_never_chooses_code(tmp_path, monkeypatch, capsys):
    """The old search imported and called config.model: here a module planted on sys.path."""
    (tmp_path / "evil_contrib_module.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    contrib = tmp_path / "contrib.json"
    contrib.write_text(json.dumps(_results("evil_contrib_module:boom")))
    status = main(["search", "mcunet-5fps", "--contrib", str(contrib), "--budget", "1MB",
                   "--out", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert status == 2 and "evil_contrib_module:boom" in err and "not of 'mcunet-5fps'" in err
    assert not (tmp_path / "IMPORTED").exists() and not (tmp_path / "CALLED").exists()
    assert "evil_contrib_module" not in sys.modules
    assert not (tmp_path / "s.json").exists()


def test_model_is_required(tmp_path, capsys):
    contrib = tmp_path / "contrib.json"
    contrib.write_text(json.dumps(_results("mcunet-5fps")))
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--contrib", str(contrib), "--budget", "1MB", "--out", str(tmp_path / "s.json")])
    assert exit_.value.code == 2 and "model" in capsys.readouterr().err


def test_search_writes_a_scheme_of_the_named_model(tmp_path, capsys):
    contrib = tmp_path / "contrib.json"
    contrib.write_text(json.dumps(_results("mcunet-5fps")))
    out = tmp_path / "s.json"
    assert main(["search", "mcunet-5fps", "--contrib", str(contrib), "--budget", "1MB", "--out", str(out)]) == 0
    scheme = json.loads(out.read_text())
    assert scheme["model"] == "mcunet-5fps" and scheme["weight_layers"] == [] and scheme["lr_weight"] == 0.01


def test_runs_of_another_model_are_refused(tmp_path, capsys):
    runs = _results("mcunet-5fps")["runs"]
    runs["weight:70:1"] = {"accuracy": 0.6, "kind": "weight", "k": 0, "layer": 70, "ratio": 1.0}
    contrib = tmp_path / "contrib.json"
    contrib.write_text(json.dumps(_results("mcunet-5fps", runs)))
    assert main(["search", "mcunet-5fps", "--contrib", str(contrib), "--budget", "1MB",
                 "--out", str(tmp_path / "s.json")]) == 2
    assert "names conv 70" in capsys.readouterr().err
