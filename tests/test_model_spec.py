"""MODEL as `module:function`: found in the current folder as `python -m` would (without
PYTHONPATH), sys.path left as it was, and `num_classes` passed to a function that takes it."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tvm_tinytrain.cli import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.model_spec import load_model
from tvm_tinytrain.training.checkpoint import load_checkpoint

NET = '''
import torch
from torch import nn

CALLS = []


def _net(classes):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, (1, 5), stride=2, padding=(0, 2)), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, classes)).eval(), torch.zeros(1, 3, 1, 64)


def fixed():
    CALLS.append("fixed")
    return _net(4)


def flexible(num_classes=5):
    CALLS.append(num_classes)
    return _net(num_classes)


def needs_count(num_classes):
    return _net(num_classes)
'''


@pytest.fixture
def models(tmp_path, monkeypatch, request):
    """A module of the test's own name in a fresh current folder (names differ, so none is cached)."""
    name = "user_models_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    (tmp_path / f"{name}.py").write_text(NET)
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_module_in_the_current_folder_without_pythonpath(models):
    before = list(sys.path)
    graph = load_model(f"{models}:fixed")
    assert graph.input_shape == (3, 1, 64) and graph.num_classes == 4
    assert sys.path == before  # the folder was searched for this import only
    assert sys.modules[models].__file__ == str(Path.cwd() / f"{models}.py")


def test_function_without_num_classes_is_called_without_arguments(models):
    graph = load_model(f"{models}:fixed", num_classes=3)
    assert graph.num_classes == 4 and sys.modules[models].CALLS == ["fixed"]


def test_function_with_num_classes_gets_the_count(models):
    assert load_model(f"{models}:flexible", num_classes=3).num_classes == 3
    assert load_model(f"{models}:flexible").num_classes == 5  # no count known: its default
    assert sys.modules[models].CALLS == [3, 5]


def test_required_num_classes_without_a_count(models):
    assert load_model(f"{models}:needs_count", num_classes=2).num_classes == 2
    with pytest.raises(TinyTrainError, match=r"needs num_classes .*give the parameter a default \(def needs_count"
                                             r"\(num_classes=10\)"):
        load_model(f"{models}:needs_count")


def test_missing_module_names_the_folder_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TinyTrainError, match=r"cannot import 'no_such_models' .*searched the current folder "
                                             + str(tmp_path)):
        load_model("no_such_models:net")


def test_inspect_from_the_current_folder(models, capsys):
    assert main(["inspect", f"{models}:fixed", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["input_shape"] == [3, 1, 64] and not table["quantized"]


def test_train_gives_a_function_with_num_classes_the_data_head(models, tmp_path):
    """`train` on 3-class npz data builds the model with num_classes=3 (its default is 5)."""
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", x=(rng.standard_normal((30, 3, 64)) + y[:, None, None]).astype(np.float32), y=y)
    argv = ["train", f"{models}:flexible", "--scheme", "bias-only", "--data", "npz:d.npz", "--epochs", "1",
            "--out", "run"]
    assert main(argv) == 0
    params, meta = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert meta["classes"] == ["0", "1", "2"]
    heads = [v for name, v in params.items() if name.endswith(".bias") and v.shape == (3,)]
    assert heads and 3 in sys.modules[models].CALLS
