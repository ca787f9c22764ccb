"""accuracy_vs_memory's own logic, without a backbone: the equal-memory comparator of a budget, the
noise and paired statistics, the recipe's settings, resume (a finished run is never recomputed), and
--report refusing an unfinished analysis (it would have to run it)."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.accuracy_vs_memory import (RECIPES, check_analysis_finished, last_k_convs, nearest_at_or_below,
                                           paired, recipe_options, run_noise, run_pending)
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.search.contribution import Trial


def test_the_comparator_is_the_largest_memory_at_or_below_the_budget():
    memories = {"bias-5": 73_000, "bias-10": 78_376, "bias-15": 105_200, "bias-31": 210_416}
    assert nearest_at_or_below(memories, 105_200) == "bias-15"  # equal to the budget fits
    assert nearest_at_or_below(memories, 105_199) == "bias-10"
    assert nearest_at_or_below(memories, 10**9) == "bias-31"
    assert nearest_at_or_below(memories, 72_999) is None  # nothing fits: no comparison, never one above


def test_last_k_convs_trains_whole_convs_from_the_end():
    assert last_k_convs(42, 2) == {"name": "last-2-convs", "n_bias_update": 2, "weight_layers": [40, 41],
                                   "weight_ratios": [1.0, 1.0]}


def test_noise_is_the_sample_standard_deviation_of_the_repeated_baseline():
    assert run_noise([0.60, 0.62, 0.64]) == pytest.approx(0.02)
    with pytest.raises(TinyTrainError, match="two seeds"):
        run_noise([0.6])


def test_paired_differences_by_seed():
    mean, se, diffs = paired({0: 0.80, 1: 0.78, 2: 0.79}, {0: 0.77, 1: 0.77, 2: 0.75, 3: 0.5})
    assert diffs == pytest.approx([0.03, 0.01, 0.04]) and mean == pytest.approx(0.08 / 3)
    assert se == pytest.approx(((0.03 - mean) ** 2 + (0.01 - mean) ** 2 + (0.04 - mean) ** 2) ** 0.5 / 6 ** 0.5)
    assert paired({0: 0.8}, {0: 0.7})[1] == 0.0  # one seed: no standard error
    assert paired({0: 0.8}, {1: 0.7}) is None  # no seed in common: no paired difference


def test_the_default_recipe_is_the_papers_memory_bound_one():
    assert recipe_options("int8+QAS-paper-nomom") == {"qas": True, "fp32_classifier": True, "momentum": 0.0}
    assert "fp32" not in RECIPES and "fp32-paper" not in RECIPES  # PyTorch variants cannot size or run C schemes


def _fake_run(calls):
    def run(config_json, spec):
        calls.append((json.loads(config_json)["seed"], spec["name"]))
        return {"accuracy": 0.5 + spec["n_bias_update"] / 100, "seconds": 0.0}
    return run


def test_finished_runs_are_kept_and_never_recomputed(tmp_path):
    path, calls = tmp_path / "runs.json", []
    config = json.dumps({"seed": 0})
    jobs = [(f"bias-{k}@seed0", config, {"name": f"bias-{k}", "n_bias_update": k}) for k in (1, 2, 3)]
    stored = {"config": {"epochs": 1}, "runs": {}}
    with ThreadPoolExecutor(1) as pool:
        run_pending(jobs[:2], stored, path, pool, _fake_run(calls))  # stopped after two runs
    assert calls == [(0, "bias-1"), (0, "bias-2")]
    stored = json.loads(path.read_text())  # as a restarted process finds it
    assert stored["config"] == {"epochs": 1} and stored["runs"]["bias-2@seed0"]["accuracy"] == 0.52
    calls.clear()
    with ThreadPoolExecutor(1) as pool:
        run_pending(jobs, stored, path, pool, _fake_run(calls))
    assert calls == [(0, "bias-3")]  # only the run not yet finished
    calls.clear()
    changed = [(jobs[0][0], config, {"name": "bias-1", "n_bias_update": 4})] + jobs[1:]
    with ThreadPoolExecutor(1) as pool:
        run_pending(changed, json.loads(path.read_text()), path, pool, _fake_run(calls))
    assert calls == [(0, "bias-1")]  # a scheme that changed (a new search) is run again
    assert json.loads(path.read_text())["runs"]["bias-1@seed0"]["accuracy"] == 0.54


def test_report_refuses_an_unfinished_analysis(tmp_path):
    trials = [Trial("baseline"), Trial("bias", k=5)]
    (tmp_path / "contrib.json").write_text(json.dumps({"runs": {"baseline": {}}}))
    with pytest.raises(TinyTrainError, match="has not finished"):
        check_analysis_finished(tmp_path, trials, [2])
    (tmp_path / "contrib.json").write_text(json.dumps({"runs": {"baseline": {}, "bias:5": {}}}))
    with pytest.raises(TinyTrainError, match="has not finished"):  # the noise baseline at seed 2 is missing
        check_analysis_finished(tmp_path, trials, [2])
    (tmp_path / "contrib-seed2.json").write_text(json.dumps({"runs": {"baseline": {}}}))
    check_analysis_finished(tmp_path, trials, [2])


def test_the_measured_family_joins_the_plan_without_changing_it(tmp_path, monkeypatch):
    """plan_measured adds each budget's best measured candidate: a scheme already planned (bias-26 here) keeps
    its name and family, a new one becomes measured-plus-<extra> with its scheme file; the planned schemes and
    their budgets' picks stay as they were; the measured family's runs go to a file of their own."""
    from types import SimpleNamespace

    import tvm_tinytrain.search.measured_search as measured_search
    from benchmarks.accuracy_vs_memory import plan_measured, runs_file, same_scheme

    bias26 = {"name": "bias-26", "n_bias_update": 26}
    new = {"name": "candidate", "n_bias_update": 10, "weight_layers": [33], "weight_ratios": [0.25]}
    plan = {"base_bytes": 65_832, "inputs": {}, "schemes": {
        "bias-26": {"family": "bias-only", "spec": bias26, "memory": {"total_bytes": 120_000}},
        "search-plus-64KB": {"family": "searched", "spec": {**new, "name": "search-plus-64KB", "weight_ratios": [1]},
                             "memory": {"total_bytes": 127_000}}},
        "budgets": {"64KB": {"limit_bytes": 131_368, "searched": "search-plus-64KB", "bias-only": "bias-26"},
                    "96KB": {"limit_bytes": 164_136, "searched": "search-plus-64KB", "bias-only": "bias-26"}}}
    before = json.loads(json.dumps(plan))
    picks = {131_368: {**bias26, "weight_layers": [], "weight_ratios": []}, 164_136: new}
    monkeypatch.setattr(measured_search, "candidates", lambda graph, gb, gw, limit, memory, n: [
        {"scheme": picks[limit], "summed_gain": 0.2, "memory": {"total_bytes": 99}, "measured_gain": 0.1}])
    monkeypatch.setattr(measured_search, "measure", lambda found, contrib, out, workers: {
        "candidates": found, "chosen": 0, "baseline_accuracy": 0.5})
    memory = SimpleNamespace(options={"qas": True}, breakdown=lambda spec: {"total_bytes": 99})
    contrib = {"runs": {"baseline": {"accuracy": 0.5, "kind": "baseline", "k": 0, "layer": -1, "ratio": 0.0}}}
    a = SimpleNamespace(measure=3, workers=1, lr=0.005, recipe="int8+QAS-paper-nomom")
    got = plan_measured(plan, SimpleNamespace(name="mcunet-5fps"), contrib, memory, a, tmp_path)
    assert plan == before  # the plan given is not changed in place
    assert {n: s for n, s in got["schemes"].items() if s["family"] != "measured"} == before["schemes"]
    assert got["budgets"]["64KB"] == {**before["budgets"]["64KB"], "measured": "bias-26"}
    assert got["budgets"]["96KB"]["measured"] == "measured-plus-96KB"
    added = got["schemes"]["measured-plus-96KB"]
    assert added["family"] == "measured" and same_scheme(added["spec"], new) and added["memory"] == {"total_bytes": 99}
    assert json.loads((tmp_path / "measured-plus-96KB.json").read_text())["qas"] is True
    assert got["measured"]["n"] == 3 and set(got["measured"]["budgets"]) == {"64KB", "96KB"}
    assert runs_file("measured") == "runs-measured.json" and runs_file("bias-only") == runs_file("searched") == "runs.json"
    again = plan_measured(got, SimpleNamespace(name="mcunet-5fps"), contrib, memory,
                          SimpleNamespace(**{**vars(a), "measure": 4}), tmp_path)
    assert again["measured"]["n"] == 4 and list(again["schemes"]) == list(got["schemes"])  # replaced, not doubled
