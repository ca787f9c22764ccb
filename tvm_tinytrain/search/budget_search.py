"""Search a sparse-update scheme: maximise the summed contribution gains subject to the
scheme's memory (arena + trained parameters, measured by our planner) staying under a budget.

For each bias depth k (0 and every measured k) a greedy ascent adds or widens one layer's
weight update at a time, best gain per parameter byte first (the byte count only orders the
candidates); each candidate is accepted only if the planner puts the whole scheme under the
budget.  The best (k, weights) over all k wins.  Gains are summed as in the paper (assumed
additive); measured_search.py measures the best of the schemes the ascents pass through instead.
"""
from __future__ import annotations

from tqdm import tqdm

from ..errors import TinyTrainError
from ..schemes import input_channels

TRIES_PER_STEP = 6  # planner calls per greedy step before giving up on this k


def scheme_dict(k: int, chosen: dict, name: str, **extra) -> dict:
    layers = sorted(chosen)
    return {"name": name, "n_bias_update": k, "weight_layers": layers,
            "weight_ratios": [chosen[i] for i in layers], **extra}


def _slice_bytes(graph, layer_index: int, ratio: float) -> int:
    if ratio == 0:
        return 0
    layer = graph.weight_layers()[layer_index]
    c_in = input_channels(layer)
    return int(layer.params["weight"].size // c_in * max(1, round(ratio * c_in)))


def ascents(graph, gain_b: dict, gain_w: dict, budget: int, memory, name: str = "searched", progress: bool = True):
    """Every scheme the greedy ascents pass through under `budget`, as (summed gain, k, chosen {layer: ratio}):
    for each bias depth k that fits, its bias-only scheme, then the scheme after each accepted step."""
    base = memory(scheme_dict(0, {}, name))
    if base > budget:
        raise TinyTrainError(f"search: even training only the classifier needs {base:,} B of SRAM, "
                             f"{base - budget:,} B over the budget of {budget:,} B; raise --budget")
    ks = [0] + sorted(k for k, g in gain_b.items() if g > 0)
    for k in tqdm(ks, desc="search over bias depths", disable=not progress):
        if memory(scheme_dict(k, {}, name)) > budget:
            continue
        chosen: dict[int, float] = {}
        yield summed_gain(k, chosen, gain_b, gain_w), k, chosen
        while True:
            candidates = []
            for (layer, ratio), g in gain_w.items():
                current = chosen.get(layer, 0)
                step_gain = g - (gain_w[(layer, current)] if current else 0.0)
                if ratio > current and step_gain > 0:
                    cost = _slice_bytes(graph, layer, ratio) - _slice_bytes(graph, layer, current)
                    candidates.append((step_gain / max(cost, 1), step_gain, layer, ratio))
            candidates.sort(reverse=True)
            for _, _, layer, ratio in candidates[:TRIES_PER_STEP]:
                trial = {**chosen, layer: ratio}
                if memory(scheme_dict(k, trial, name)) <= budget:
                    chosen = trial
                    yield summed_gain(k, chosen, gain_b, gain_w), k, chosen
                    break
            else:
                break


def summed_gain(k: int, chosen: dict, gain_b: dict, gain_w: dict) -> float:
    return gain_b.get(k, 0.0) + sum(gain_w[(i, r)] for i, r in chosen.items())


def search(graph, gain_b: dict, gain_w: dict, budget: int, memory, name: str = "searched",
           progress: bool = True) -> dict:
    """-> {"scheme": scheme dict, "gain": summed gain, "memory": planner breakdown, "budget": budget}: the
    scheme of the largest summed gain the ascents reach (each ascent's gain only grows, so its last)."""
    best = None
    for total, k, chosen in ascents(graph, gain_b, gain_w, budget, memory, name, progress):
        if best is None or total > best[0]:
            best = (total, k, chosen)
    total, k, chosen = best
    spec = scheme_dict(k, chosen, name)
    return {"scheme": spec, "gain": total, "memory": breakdown(memory, spec), "budget": budget}


def breakdown(memory, spec: dict) -> dict:
    """The planner's breakdown of `spec` (total only if `memory` is a plain function, as in tests)."""
    return memory.breakdown(spec) if hasattr(memory, "breakdown") else {"total_bytes": memory(spec)}
