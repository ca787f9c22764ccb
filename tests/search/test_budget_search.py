"""The budget search against the real planner on MCUNet-5fps, with a made-up gain table."""
import pytest

from tvm_tinytrain.backbones import load_backbone
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
