"""Measured search: the summed-gain search's best few candidate schemes, each fine-tuned by the same
short run as a contribution run, and the best *measured* one chosen.

Summing gains assumes they add; on full CIFAR-10 they did not (docs/results.md, issue 14: biases to
depth 26 alone beat the schemes the sum chose at +64 and +96 KB).  So the candidates are whole schemes
the greedy ascents of budget_search.py pass through under the budget: each bias depth's final scheme
first (the sum fails most between depths: deep biases against weights), by summed gain, then the
ascents' intermediate schemes (a depth's biases alone, each accepted step) by summed gain.  The first
N that need a run are run with the analysis's own settings (data sizes, seed, epochs, learning rate,
recipe) by contribution.py's runner, so their measured gains are on the scale of the contribution
table; every candidate that is a run of the analysis (a depth's biases alone, one weight slice alone)
joins too, at no cost: it takes that run.  The runs go to a results file of the contribution format,
resumed as `analyze` resumes: a repeated search never runs a finished candidate again.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import TinyTrainError
from ..outputs import atomic_write
from .budget_search import ascents, breakdown, scheme_dict
from .contribution import Trial, analyze


def candidates(graph, gain_b: dict, gain_w: dict, budget: int, memory, n: int, progress: bool = True) -> list[dict]:
    """Distinct schemes under `budget` in the order above: the first `n` that need a run and every one the
    analysis ran; each {"scheme", "summed_gain", "memory" (planner breakdown)}."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TinyTrainError(f"--measure {n!r}: give the number of candidate schemes to run, 1 or more")
    visited, last_of_depth = {}, {}
    for total, k, chosen in ascents(graph, gain_b, gain_w, budget, memory, "candidate", progress):
        key = (k, tuple(sorted(chosen.items())))
        visited.setdefault(key, total)
        last_of_depth[k] = key
    finals = sorted(last_of_depth.values(), key=lambda key: -visited[key])
    rest = sorted((key for key in visited if key not in finals), key=lambda key: -visited[key])
    found, to_run = [], 0
    for k, weights in finals + rest:
        spec = scheme_dict(k, dict(weights), "candidate")
        if trial_of(spec).kind == "scheme":  # not a run of the analysis
            if to_run == n:
                continue
            to_run += 1
        found.append({"scheme": spec, "summed_gain": visited[(k, weights)], "memory": breakdown(memory, spec)})
    return found


def trial_of(spec: dict) -> Trial:
    """The run that measures a candidate: the analysis's own run where it has one of that scheme."""
    k, weights = spec["n_bias_update"], tuple(zip(spec["weight_layers"], map(float, spec["weight_ratios"])))
    if not weights:
        return Trial("bias", k=k) if k else Trial("baseline")
    if k == 0 and len(weights) == 1:
        return Trial("weight", layer=weights[0][0], ratio=weights[0][1])
    return Trial("scheme", k=k, weights=weights)


def measure(found: list[dict], contrib: dict, out, workers: int | None = None, ray_address: str | None = None,
            progress: bool = True) -> dict:
    """Run the candidates neither the analysis `contrib` nor the results file `out` has (with the analysis's
    config); add each candidate's "run" (its key) and "measured_gain" (its accuracy - the analysis's
    baseline); choose the best measured (of equal ones, the smaller memory), and record the table in `out`.
    -> {"candidates": found, "chosen": index of the choice}."""
    known = contrib["runs"]
    if "baseline" not in known:
        raise TinyTrainError("contribution results have no baseline run; run the analysis again to finish it")
    trials = [trial_of(c["scheme"]) for c in found]
    todo = list({t.key: t for t in trials if t.key not in known}.values())
    results = analyze(contrib["config"], todo, Path(out), workers=workers, ray_address=ray_address, progress=progress)
    runs = {**results["runs"], **known}
    for c, trial in zip(found, trials):
        c["run"] = trial.key
        c["measured_gain"] = runs[trial.key]["accuracy"] - known["baseline"]["accuracy"]
    chosen = max(range(len(found)), key=lambda i: (found[i]["measured_gain"], -found[i]["memory"]["total_bytes"]))
    results["search"] = {"baseline_accuracy": known["baseline"]["accuracy"], "candidates": found, "chosen": chosen}
    atomic_write(Path(out), json.dumps(results, indent=1))
    return results["search"]


def table(search: dict) -> str:
    """The candidates as the user sees them: summed and measured gain side by side, the choice marked."""
    lines = ["| | bias depth k | weights (conv: ratio) | memory (B) | summed gain (points) | measured gain (points) |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for i, c in enumerate(search["candidates"]):
        s = c["scheme"]
        weights = ", ".join(f"{layer}: {ratio:g}" for layer, ratio in zip(s["weight_layers"], s["weight_ratios"]))
        lines.append(f"| {'chosen' if i == search['chosen'] else ''} | {s['n_bias_update']} | {weights or '-'} | "
                     f"{c['memory']['total_bytes']:,} | {100 * c['summed_gain']:+.1f} | {100 * c['measured_gain']:+.1f} |")
    return "\n".join(lines)
