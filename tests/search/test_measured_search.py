"""The measured search without training a backbone: candidates are distinct schemes under the budget, each
depth's final first, N that need a run and every run of the analysis; the choice is the best measured, not the best summed; a candidate the analysis already
ran takes that run; a repeated search runs nothing again; scheme runs in a results file are checked; and
`search --measure` end to end (made-up memory figures, a fake run in place of the C fine-tuning)."""
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

import tvm_tinytrain.search.contribution as contribution
from tvm_tinytrain.cli import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.graph import Layer
from tvm_tinytrain.search.budget_search import search
from tvm_tinytrain.search.measured_search import candidates, measure, trial_of
from tvm_tinytrain.search.results_file import load_results

BASE, PER_BIAS = 10_000, 1_000  # the made-up memory: base + 1 KB a bias depth + 1 B a trained weight


def _graph():
    """Four 1x1 convs of 8 -> 8 channels and a classifier: weight slices of 16, 32 and 64 bytes."""
    def conv(i):
        return Layer(name=f"conv{i}", op="conv2d", inputs=(), out_shape=(1, 8, 4, 4),
                     params={"weight": np.zeros((8, 8, 1, 1), np.int8)}, conv_index=i)
    layers = [conv(i) for i in range(5)]
    return SimpleNamespace(weight_layers=lambda: layers)


def _memory(spec):
    return BASE + PER_BIAS * spec["n_bias_update"] + sum(
        8 * max(1, round(r * 8)) for r in spec["weight_ratios"])


GAIN_B = {2: 0.05, 4: 0.08}
GAIN_W = {(1, 0.25): 0.03, (1, 0.5): 0.04, (2, 0.25): 0.02, (3, 0.25): -0.01}


def _key(c):
    s = c["scheme"]
    return s["n_bias_update"], tuple(zip(s["weight_layers"], s["weight_ratios"]))


def test_candidates_are_distinct_under_the_budget_each_depths_final_first():
    budget = BASE + 4 * PER_BIAS + 40  # depth 4 fits with 40 bytes of weights: (1, 0.25) + (2, 0.25)
    found = candidates(_graph(), GAIN_B, GAIN_W, budget, _memory, n=20, progress=False)
    keys = [_key(c) for c in found]
    assert len(set(keys)) == len(keys) and all(c["memory"]["total_bytes"] <= budget for c in found)
    finals = [(4, ((1, 0.25), (2, 0.25))), (2, ((1, 0.5), (2, 0.25))), (0, ((1, 0.5), (2, 0.25)))]
    assert keys[:3] == finals  # each depth's last scheme, by summed gain
    assert [c["summed_gain"] for c in found[:3]] == pytest.approx([0.13, 0.11, 0.06])
    assert (4, ()) in keys and (0, ()) in keys  # a depth's biases alone is a candidate too
    summed = [c["summed_gain"] for c in found[3:]]
    assert summed == sorted(summed, reverse=True)
    assert keys[0] == _key({"scheme": search(_graph(), GAIN_B, GAIN_W, budget, _memory, progress=False)["scheme"]})
    few = [_key(c) for c in candidates(_graph(), GAIN_B, GAIN_W, budget, _memory, n=2, progress=False)]
    ran = [(4, ()), (2, ()), (0, ((1, 0.25),)), (0, ())]  # runs of the analysis: they join at no cost
    assert few == finals[:2] + ran  # two that need a run, then the analysis's own by summed gain
    with pytest.raises(TinyTrainError, match="--measure 0"):
        candidates(_graph(), GAIN_B, GAIN_W, budget, _memory, n=0, progress=False)


def test_a_candidate_the_analysis_ran_is_that_run():
    assert trial_of({"n_bias_update": 0, "weight_layers": [], "weight_ratios": []}).key == "baseline"
    assert trial_of({"n_bias_update": 4, "weight_layers": [], "weight_ratios": []}).key == "bias:4"
    assert trial_of({"n_bias_update": 0, "weight_layers": [3], "weight_ratios": [0.5]}).key == "weight:3:0.5"
    trial = trial_of({"n_bias_update": 4, "weight_layers": [1, 2], "weight_ratios": [0.25, 1]})
    assert trial.key == "scheme:4:1@0.25,2@1"
    assert trial.scheme() == {"name": "scheme-4-1x0.25-2x1", "n_bias_update": 4, "weight_layers": [1, 2],
                              "weight_ratios": [0.25, 1.0]}


@pytest.fixture
def fake_runs(monkeypatch):
    """analyze's workers as threads running a fake fine-tuning: biases help, weights on top of deep biases
    do not (what the summed gains cannot see); every run is recorded."""
    calls = []

    def run(config_json, scheme):
        calls.append(scheme["name"])
        deep = scheme["n_bias_update"] >= 4
        return {"accuracy": 0.5 + scheme["n_bias_update"] / 100 - (0.02 * len(scheme.get("weight_layers", []))
                                                                     if deep else 0), "loss": 1.0, "seconds": 0.0}

    monkeypatch.setattr(contribution, "run_trial", run)
    monkeypatch.setattr(contribution, "ProcessPoolExecutor",
                        lambda max_workers, mp_context, initializer: ThreadPoolExecutor(max_workers))
    return calls


def _contrib():
    runs = {"baseline": {"accuracy": 0.5, "kind": "baseline", "k": 0, "layer": -1, "ratio": 0.0},
            "bias:4": {"accuracy": 0.58, "kind": "bias", "k": 4, "layer": -1, "ratio": 0.0}}
    return {"config": {"model": "m", "data": "cifar10", "epochs": 1, "lr": 0.01, "seed": 1}, "runs": runs}


def test_the_choice_is_the_best_measured_and_a_repeated_search_runs_nothing(tmp_path, fake_runs):
    found = candidates(_graph(), GAIN_B, GAIN_W, BASE + 4 * PER_BIAS + 40, _memory, n=20, progress=False)
    out = tmp_path / "measured.json"
    result = measure(found, _contrib(), out, workers=1, progress=False)
    chosen = result["candidates"][result["chosen"]]
    assert _key(chosen) == (4, ())  # depth 4's biases alone, though four schemes sum more
    assert sum(c["summed_gain"] > chosen["summed_gain"] for c in result["candidates"]) == 4
    assert chosen["run"] == "bias:4" and chosen["measured_gain"] == pytest.approx(0.08)  # the analysis's run
    ran = {c["run"] for c in result["candidates"]} - {"baseline", "bias:4"}
    assert len(fake_runs) == len(ran) == len(found) - 2 and "bias-4" not in fake_runs
    stored = load_results(out)  # a results file like analyze's, the candidates table with it
    assert set(stored["runs"]) == ran
    assert stored["search"]["chosen"] == result["chosen"] and stored["config"] == _contrib()["config"]
    fake_runs.clear()
    again = measure(candidates(_graph(), GAIN_B, GAIN_W, BASE + 4 * PER_BIAS + 40, _memory, n=20, progress=False),
                    _contrib(), out, workers=1, progress=False)
    assert fake_runs == [] and again["candidates"] == result["candidates"]
    with pytest.raises(TinyTrainError, match="another configuration"):
        measure(found, {**_contrib(), "config": {**_contrib()["config"], "seed": 2}}, out, progress=False)


@pytest.mark.parametrize("weights, match", [([[1, 0.3]], "not a list of"), ([[2, 1], [1, 1]], "not distinct"),
                                            ("1@1", "not a list of"), ([[True, 1]], "not a list of")])
def test_scheme_runs_of_a_results_file_are_checked(tmp_path, weights, match):
    results = _contrib()
    results["runs"]["scheme:4:1@1"] = {"accuracy": 0.6, "kind": "scheme", "k": 4, "layer": -1, "ratio": 0.0,
                                       "weights": weights}
    path = tmp_path / "measured.json"
    path.write_text(json.dumps(results))
    with pytest.raises(TinyTrainError, match=match):
        load_results(path)


def _cli_contrib(tmp_path):
    """mcunet-5fps: biases of the last 2 convs and conv 40 at 1/4 each help, by the analysis."""
    runs = {"baseline": {"accuracy": 0.5, "kind": "baseline", "k": 0, "layer": -1, "ratio": 0.0},
            "bias:2": {"accuracy": 0.53, "kind": "bias", "k": 2, "layer": -1, "ratio": 0.0},
            "weight:40:0.25": {"accuracy": 0.56, "kind": "weight", "k": 0, "layer": 40, "ratio": 0.25}}
    path = tmp_path / "contrib.json"
    path.write_text(json.dumps({"config": {"model": "mcunet-5fps", "data": "cifar10", "train_per_class": 20,
                                           "test_per_class": 20, "epochs": 1, "lr": 0.01, "seed": 0,
                                           "scheme_options": {"fp32_classifier": True}},
                                "runs": runs}))
    return path


def test_search_measure_writes_the_best_measured_scheme(tmp_path, fake_runs, capsys, monkeypatch):
    """The planner's figures are made up here (test_budget_search checks the real ones): the schemes are sized
    with the analysis's recipe (its scheme_options)."""
    import tvm_tinytrain.search.memory as memory

    options = []
    monkeypatch.setattr(memory, "SchemeMemory", lambda graph, opts: options.append(opts) or _memory)
    contrib, out = _cli_contrib(tmp_path), tmp_path / "s.json"
    argv = ["search", "mcunet-5fps", "--contrib", str(contrib), "--budget", "1MB", "--out", str(out), "--measure", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "measured gain" in printed and "chosen" in printed
    scheme = json.loads(out.read_text())  # the analysis's own conv-40 run beat biases + conv 40 (fake: +0.02)
    assert (scheme["n_bias_update"], scheme["weight_layers"], scheme["weight_ratios"]) == (0, [40], [0.25])
    assert "measured gain +0.060" in scheme["about"] and scheme["name"] == "s"
    assert fake_runs == ["scheme-2-40x0.25"]
    measured = json.loads((tmp_path / "s.measured.json").read_text())
    assert [c["run"] for c in measured["search"]["candidates"]] == ["scheme:2:40@0.25", "weight:40:0.25", "bias:2",
                                                                     "baseline"]
    assert set(measured["runs"]) == {"scheme:2:40@0.25"} and options == [{"fp32_classifier": True}]


@pytest.mark.parametrize("extra, match", [(["--measure", "0"], "--measure 0"),
                                          (["--measured", "m.json"], "give --measure N too"),
                                          (["--measure", "2", "--measured", "contrib.json"], "a file of their own")])
def test_bad_measure_options_are_one_line(tmp_path, monkeypatch, capsys, extra, match):
    monkeypatch.chdir(tmp_path)
    _cli_contrib(tmp_path)
    assert main(["search", "mcunet-5fps", "--contrib", "contrib.json", "--budget", "1MB", "--out", "s.json",
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err and not (tmp_path / "s.json").exists()
