"""Contribution analysis: trials resolve to real schemes, bad layer indices are explained,
gains are relative to the classifier-only baseline, and an analysis really runs the generated
C (two worker processes), resumes from its file and refuses a file of another configuration."""
import json

import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.search.contribution import Trial, analyze, gains, plan_trials


@pytest.fixture(scope="module")
def graph():
    return load_backbone("mcunet-5fps", num_classes=2)


def test_trials_are_schemes_of_the_model(graph):
    trials = plan_trials(graph, [2, 10], [40], ratios=(0.25, 1))
    assert [t.key for t in trials] == ["baseline", "bias:2", "bias:10", "weight:40:0.25", "weight:40:1"]
    s = resolve_scheme(trials[3].scheme(), graph)
    layer = graph.weight_layers()[40]
    assert list(s.weights) == [layer.name, graph.output] and s.bias == (graph.output,)  # + the classifier
    assert len(resolve_scheme(trials[2].scheme(), graph).bias) == 11  # last 10 convs + the classifier


@pytest.mark.parametrize("ks,layers,match", [([0], [], "bias depth 0"), ([], [42], "layer index 42")])
def test_out_of_range_is_explained(graph, ks, layers, match):
    with pytest.raises(TinyTrainError, match=match):
        plan_trials(graph, ks, layers)


def test_gains_are_relative_to_the_baseline():
    runs = {"baseline": {"accuracy": 0.5, "kind": "baseline", "k": 0, "layer": -1, "ratio": 0},
            "bias:3": {"accuracy": 0.6, "kind": "bias", "k": 3, "layer": -1, "ratio": 0},
            "weight:7:0.5": {"accuracy": 0.45, "kind": "weight", "k": 0, "layer": 7, "ratio": 0.5}}
    gain_b, gain_w = gains({"runs": runs})
    assert gain_b == {3: pytest.approx(0.1)} and gain_w == {(7, 0.5): pytest.approx(-0.05)}
    with pytest.raises(TinyTrainError, match="no baseline"):
        gains({"runs": {}})


def test_analysis_runs_in_workers_and_resumes(graph, tmp_path):
    config = {"model": "mcunet-5fps", "data": "cifar10:classes=0,1", "train_per_class": 3, "test_per_class": 3,
              "epochs": 1, "lr": 0.005, "seed": 0}
    out = tmp_path / "new" / "contrib.json"  # its folder is made
    trials = [Trial("baseline"), Trial("bias", k=4)]
    results = analyze(config, trials, out, workers=2, progress=False)
    assert set(results["runs"]) == {"baseline", "bias:4"}
    for run in results["runs"].values():
        assert 0.0 <= run["accuracy"] <= 1.0 and run["loss"] > 0
    again = analyze(config, trials, out, workers=2, progress=False)  # nothing left to run
    assert again["runs"] == json.loads(out.read_text())["runs"] == results["runs"]
    with pytest.raises(TinyTrainError, match="another configuration"):
        analyze({**config, "lr": 0.1}, trials, out, progress=False)
