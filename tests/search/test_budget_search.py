"""The budget search against the real planner on MCUNet-5fps, with a made-up gain table; the memory it
checks against the budget is the generated program's (a sample that arrives in rows has no buffer)."""
import pytest

import tvm_tinytrain.compiler as compiler

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import plan_arena
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.search.budget_search import scheme_dict, search
from tvm_tinytrain.search.memory import SchemeMemory, parse_budget


@pytest.fixture(scope="module")
def setup():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    return graph, SchemeMemory(graph)


def test_parse_budget():
    assert parse_budget("100KB") == 102400 and parse_budget("0.5MB") == 524288 and parse_budget("2048") == 2048
    with pytest.raises(TinyTrainError, match="expected a size"):
        parse_budget("lots")


@pytest.mark.parametrize("chosen, rows", [
    ({}, True),         # the classifier trains: a frozen fused stem reads the sample in rows
    ({0: 1.0}, False),  # the first conv trains: its weight gradient reads the whole sample, in the arena
])
def test_scheme_memory_is_the_generated_programs(setup, monkeypatch, chosen, rows):
    graph, _ = setup
    runs, original = [], compiler.compile  # the Compiled of SchemeMemory's run: the project to agree with
    monkeypatch.setattr(compiler, "compile", lambda *a, **k: runs.append(original(*a, **k)) or runs[-1])
    breakdown = SchemeMemory(graph).breakdown(scheme_dict(0, chosen, "x"))
    (compiled,) = runs
    memory = compiled.project.memory
    assert memory["input"]["rows"] is rows
    assert breakdown == {"arena_bytes": memory["arena_bytes"], "param_bytes": memory["updated_param_bytes"],
                         "total_bytes": memory["arena_bytes"] + memory["updated_param_bytes"]}
    whole = plan_arena(compiled.program.mod)[1]  # the training step planned with the sample in the arena
    assert ("x" in {b["tensor"] for b in memory["plan"]}) is not rows and whole.buffers["x"].size == 3 * 128 * 128
    if rows:
        assert breakdown["arena_bytes"] < whole.arena_bytes
    else:
        assert memory["train_arena_bytes"] == whole.arena_bytes


def test_search_respects_the_planner_budget_and_prefers_gain(setup):
    graph, memory = setup
    base = memory(scheme_dict(0, {}, "x"))
    # layer 40 (a late 1x1 conv) gains a lot, layer 39 a little; bias depth 6 helps
    gain_b = {6: 0.02, 12: 0.03}
    gain_w = {(40, 0.25): 0.03, (40, 0.5): 0.05, (40, 1.0): 0.06, (39, 1.0): 0.001, (38, 1.0): -0.01}
    roomy = search(graph, gain_b, gain_w, base + 400_000, memory, progress=False)
    assert roomy["memory"]["total_bytes"] <= base + 400_000
    chosen = dict(zip(roomy["scheme"]["weight_layers"], roomy["scheme"]["weight_ratios"]))
    assert chosen.get(40) == 1.0 and 38 not in chosen and roomy["scheme"]["n_bias_update"] == 12
    assert roomy["gain"] == pytest.approx(0.03 + 0.06 + (0.001 if 39 in chosen else 0))
    tight_budget = memory(scheme_dict(12, {40: 0.25}, "x"))
    tight = search(graph, gain_b, gain_w, tight_budget, memory, progress=False)
    assert tight["memory"]["total_bytes"] <= tight_budget
    assert tight["gain"] < roomy["gain"]


def test_budget_below_the_classifier_alone_is_explained(setup):
    graph, memory = setup
    with pytest.raises(TinyTrainError, match="over the budget"):
        search(graph, {}, {}, 1000, memory, progress=False)


def test_scheme_memory_options_join_every_scheme(setup):
    """A float32 classifier (the paper's recipe) keeps 4 bytes a weight where the int8 one keeps 1; its
    int32 biases and the arena stay as they are."""
    graph, memory = setup
    scheme = scheme_dict(0, {}, "classifier-only")
    fp32 = SchemeMemory(graph, {"fp32_classifier": True}).breakdown(scheme)
    int8 = memory.breakdown(scheme)
    assert fp32["param_bytes"] - int8["param_bytes"] == 3 * graph.weight_layers()[-1].params["weight"].size
    assert fp32["arena_bytes"] == int8["arena_bytes"]
