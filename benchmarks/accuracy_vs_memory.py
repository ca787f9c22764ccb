"""Accuracy vs memory (the shape of the paper's figure 9): schemes from our contribution
analysis + budget search at several budgets, against bias-only updates of growing depth and
last-k block updates, each fine-tuned the same way on CIFAR-10 with the generated C on this
host.  Memory is what the planner gives the scheme (activation arena + trained parameters in
SRAM), the same figure the search constrains.

    python -m benchmarks.accuracy_vs_memory [--model mcunet-5fps] [--extra 16KB 32KB 64KB 128KB]

A budget is given as extra SRAM over training only the classifier (the paper's x axis is the
memory a scheme adds); the search gets base + extra.

Steps (each resumable): the contribution analysis -> contrib.json; the search at each budget
-> search-<budget>.json (scheme files `compile`/`train` accept); one fine-tuning run per
scheme -> runs.json; then results.md and accuracy_vs_memory.png.  Default --out:
out/accuracy_vs_memory_<model>/.
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm


def finetune(config_json: str, scheme) -> dict:
    from tvm_tinytrain.search.contribution import run_trial

    return run_trial(config_json, scheme)


def main(argv=None):
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.schemes import load_spec, save_scheme
    from tvm_tinytrain.search.budget_search import search
    from tvm_tinytrain.search.contribution import RATIOS, analyze, gains, plan_trials
    from tvm_tinytrain.search.memory import SchemeMemory, parse_budget

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mcunet-5fps")
    p.add_argument("--extra", nargs="+", default=["16KB", "32KB", "64KB", "128KB"],
                   help="budgets as SRAM above the classifier-only scheme")
    p.add_argument("--last-layers", type=int, default=None, help="analyse the last N convs (default: the later half)")
    p.add_argument("--ratios", type=float, nargs="+", default=None, help="channel ratios analysed (default 1/8..1)")
    p.add_argument("--analysis-per-class", type=int, default=20, help="training images per class of each analysis run")
    p.add_argument("--train-per-class", type=int, default=50, help="training images per class of the final runs")
    p.add_argument("--test-per-class", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    out = Path(a.out or f"out/accuracy_vs_memory_{a.model}")
    out.mkdir(parents=True, exist_ok=True)
    graph = load_backbone(a.model, num_classes=10)
    n_conv = len(graph.weight_layers()) - 1

    # 1. contribution analysis on a small subset (one epoch per run)
    analysis = {"model": a.model, "data": "cifar10", "train_per_class": a.analysis_per_class,
                "test_per_class": a.test_per_class, "epochs": 1, "lr": a.lr, "seed": 1}
    bias_ks = sorted({max(1, n_conv * f // 8) for f in range(1, 9)})
    first = n_conv - a.last_layers if a.last_layers else n_conv // 2
    trials = plan_trials(graph, bias_ks, list(range(first, n_conv)), a.ratios or RATIOS)
    gain_b, gain_w = gains(analyze(analysis, trials, out / "contrib.json", workers=a.workers))

    # 2. the schemes to compare, with their planner memory
    memory = SchemeMemory(graph)
    base = memory({"name": "classifier-only", "n_bias_update": 0})
    schemes = {}
    for extra in a.extra:
        name = f"search-plus-{extra}"
        found = search(graph, gain_b, gain_w, base + parse_budget(extra), memory, name=name)
        save_scheme({**found["scheme"], "model": graph.name, "lr_weight": a.lr, "lr_bias": a.lr,
                     "about": f"searched: classifier-only memory {base:,} B + {extra}"}, out / f"{name}.json")
        schemes[name] = ("searched", found["scheme"])
    for k in bias_ks:
        schemes[f"bias-{k}"] = ("bias-only", {"name": f"bias-{k}", "n_bias_update": k})
    for k in (1, 2, 3, 4):
        schemes[f"last-{k}"] = ("last-k", f"last-{k}")

    # 3. one fine-tuning run per scheme (same data, schedule and seed), resumable
    runs_path = out / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    final = {"model": a.model, "data": "cifar10", "train_per_class": a.train_per_class,
             "test_per_class": a.test_per_class, "epochs": a.epochs, "lr": a.lr, "seed": 0,
             "warmup_epochs": 0.5}
    runs = {n: r for n, r in runs.items() if n in schemes and r.get("spec") == schemes[n][1]}  # stale: run again
    todo = {n: s for n, s in schemes.items() if n not in runs}
    with ProcessPoolExecutor(a.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(finetune, json.dumps(final, sort_keys=True), spec): n for n, (_, spec) in todo.items()}
        for f in tqdm(as_completed(futures), total=len(futures), desc="fine-tuning runs"):
            name = futures[f]
            runs[name] = {**f.result(), "family": schemes[name][0], "spec": schemes[name][1]}
            runs_path.write_text(json.dumps(runs, indent=1))
    for name, run in runs.items():  # memory always from the current planner
        run["memory"] = memory.breakdown(load_spec(run["spec"], graph))
    write_outputs(runs, final, out)


def write_outputs(runs: dict, config: dict, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["| scheme | family | memory (KB) | arena (KB) | trained params (KB) | accuracy (%) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, r in sorted(runs.items(), key=lambda kv: kv[1]["memory"]["total_bytes"]):
        m = r["memory"]
        lines.append(f"| {name} | {r['family']} | {m['total_bytes'] / 1024:.1f} | {m['arena_bytes'] / 1024:.1f} | "
                     f"{m['param_bytes'] / 1024:.1f} | {100 * r['accuracy']:.1f} |")
    setup = (f"{config['model']} on CIFAR-10 ({config['train_per_class']} train / {config['test_per_class']} test "
             f"images per class, 128x128), {config['epochs']} epochs, batch 1, lr {config['lr']:g}, seed {config['seed']}")
    (out / "results.md").write_text(setup + "\n\n" + "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for family, marker in (("bias-only", "s"), ("last-k", "^"), ("searched", "o")):
        pts = sorted((r["memory"]["total_bytes"] / 1024, 100 * r["accuracy"]) for r in runs.values()
                     if r["family"] == family)
        if pts:
            ax.plot(*zip(*pts), marker=marker, label=family)
    ax.set_xlabel("SRAM of the scheme: arena + trained parameters (KB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(setup, fontsize=7)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_memory.png", dpi=120)
    plt.close(fig)
    print(setup + "\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
