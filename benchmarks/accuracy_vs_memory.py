"""Accuracy vs memory (the shape of the paper's figure 9) on CIFAR-10: schemes from our contribution
analysis + budget search at several budgets, each against the bias-only depth and the last-k convs
nearest in memory at or below the same budget, fine-tuned the same way with the generated C on this
host over several seeds.  Memory is what the planner gives the scheme (activation arena + trained
parameters in SRAM, a float32 classifier's 4 bytes a value counted), the figure the search constrains.

    python -m benchmarks.accuracy_vs_memory [--model mcunet-5fps] [--recipe int8+QAS-paper-nomom]
        [--extra 16KB 32KB 64KB 96KB] [--seeds 0 1 2] [--measure 6] [--families ...]

--recipe is a variant of benchmarks.qas_experiment that trains in the generated C; the default is the
paper's memory-bound one (its `sgd_scale_nomom`: QAS, plain SGD, a float32 classifier) at lr 0.005.
A budget is extra SRAM over training only the classifier (the paper's x axis is what a scheme adds).

Steps, each resumable (a finished run is kept, never recomputed; a stopped step continues):
  1. contribution analysis: one-epoch runs on --analysis-per-class training images per class, scored on
     --analysis-test-per-class per class -> contrib.json; the baseline (classifier only) again at the
     other --noise-seeds -> contrib-seed<N>.json; gains over the noise of a run -> contrib.md
  2. the search at each budget -> search-plus-<extra>.json (scheme files `compile` / `train` accept);
     the measured search (`search --measure`): the --measure best candidates of each budget run as
     analysis runs -> measured.json, the best measured -> measured-plus-<extra>.json (family "measured",
     added to plan.json beside the frozen searched / bias-only / last-k schemes, never changing them)
  3. final fine-tuning (default all 50,000 / 10,000 images, one epoch) of every scheme at every seed,
     seed 0 of every scheme first -> runs.json (the measured family's: runs-measured.json, so that a
     process running only it, --families measured, never writes the file of one running the others);
     results.md and accuracy_vs_memory.png after each seed
     (`--report` writes them from the runs finished so far, beside a running invocation)
Default --out: out/accuracy_vs_memory_full_<model>/.
"""
from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from benchmarks.qas_experiment import VARIANTS, mean_se, per_class
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.outputs import atomic_write

RECIPES = [name for name, v in VARIANTS.items() if v.engine == "c"]  # the analysis and search run the C
FAMILIES = ("searched", "bias-only", "last-k", "measured")
PLANNED = FAMILIES[:3]  # frozen in plan.json before the measured search existed: never re-planned for it


def recipe_options(recipe: str) -> dict:
    """The scheme settings of a qas_experiment variant: every scheme here is trained and sized with them."""
    v = VARIANTS[recipe]
    return {"qas": v.qas, "fp32_classifier": v.fp32_classifier, "momentum": v.momentum}


def run_noise(accuracies) -> float:
    """The noise of one run: the sample standard deviation of the same run's accuracy over seeds."""
    if len(accuracies) < 2:
        raise TinyTrainError("the noise of a run needs the baseline at two seeds at least (--noise-seeds)")
    return statistics.stdev(accuracies)


def paired(a: dict, b: dict) -> tuple[float, float, list] | None:
    """a - b over the seeds both have ({seed: accuracy}): (mean, standard error, per seed), None if none."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    return (*mean_se(diffs), diffs)


def nearest_at_or_below(memories: dict, limit: int):
    """The name whose memory is the largest at or below `limit` (None if none fits): the comparator of
    a budget, at (nearly) equal memory without exceeding it."""
    fitting = [(m, name) for name, m in memories.items() if m <= limit]
    return max(fitting)[1] if fitting else None


def last_k_convs(n_conv: int, k: int) -> dict:
    """All weights and biases of the last k convs (+ the classifier, always trained)."""
    return {"name": f"last-{k}-convs", "n_bias_update": k, "weight_layers": list(range(n_conv - k, n_conv)),
            "weight_ratios": [1.0] * k}


def runs_file(family: str) -> str:
    return "runs-measured.json" if family == "measured" else "runs.json"


def same_scheme(a: dict, b: dict) -> bool:
    """Whether two scheme dicts train the same tensors (names aside)."""
    def content(s):
        return s["n_bias_update"], list(s.get("weight_layers", [])), [float(r) for r in s.get("weight_ratios", [])]
    return content(a) == content(b)


def finetune(config_json: str, scheme: dict) -> dict:
    from tvm_tinytrain.search.contribution import run_trial

    return run_trial(config_json, scheme)


def run_pending(jobs, stored: dict, path: Path, executor, run=finetune):
    """Run the jobs ((key, config_json, scheme)) not yet in stored["runs"] with that scheme, in order,
    writing `stored` to `path` after each: a stopped run is started again, a finished one never."""
    runs = stored["runs"]
    todo = [(key, cfg, spec) for key, cfg, spec in jobs if runs.get(key, {}).get("spec") != spec]
    futures = {executor.submit(run, cfg, spec): (key, cfg, spec) for key, cfg, spec in todo}
    for future in tqdm(as_completed(futures), total=len(futures), desc="fine-tuning runs"):
        key, cfg, spec = futures[future]
        runs[key] = {**future.result(), "seed": json.loads(cfg)["seed"], "spec": spec}
        atomic_write(path, json.dumps(stored, indent=1))


def main(argv=None):
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.search.contribution import Trial, analyze, gains, plan_trials
    from tvm_tinytrain.search.memory import SchemeMemory

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mcunet-5fps")
    p.add_argument("--recipe", default="int8+QAS-paper-nomom", choices=RECIPES,
                   help="how every scheme trains (benchmarks.qas_experiment's variants)")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--extra", nargs="+", default=["16KB", "32KB", "64KB", "96KB"],
                   help="budgets as SRAM above the classifier-only scheme")
    p.add_argument("--last-layers", type=int, default=12, help="analyse the last N convs")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="channel ratios analysed")
    p.add_argument("--analysis-per-class", type=int, default=400, help="training images per class of an analysis run")
    p.add_argument("--analysis-test-per-class", type=int, default=300, help="test images per class of an analysis run")
    p.add_argument("--noise-seeds", type=int, nargs="+", default=[1, 2, 3],
                   help="seeds of the baseline runs that give the noise; the first is the analysis's")
    p.add_argument("--train-per-class", type=per_class, default=None, help="final runs: a number, or all (default)")
    p.add_argument("--test-per-class", type=per_class, default=None, help="final runs: a number, or all (default)")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the final runs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the final runs")
    p.add_argument("--measure", type=int, default=6, metavar="N",
                   help="the measured search's candidates a budget (analysis runs of ~40-80 s; 0: no measured family)")
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                   help="the families whose final runs this invocation makes (the report shows every family)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--report", action="store_true",
                   help="only write results.md and the plot from the runs finished so far (e.g. beside a running "
                        "invocation); runs nothing new")
    a = p.parse_args(argv)
    out = Path(a.out or f"out/accuracy_vs_memory_full_{a.model}")
    out.mkdir(parents=True, exist_ok=True)
    options = recipe_options(a.recipe)
    graph = load_backbone(a.model, num_classes=10)
    n_conv = len(graph.weight_layers()) - 1

    # 1. contribution analysis, and the noise of a run from the baseline at other seeds
    def analysis_config(seed):
        return {"model": a.model, "data": "cifar10", "train_per_class": a.analysis_per_class,
                "test_per_class": a.analysis_test_per_class, "epochs": 1, "lr": a.lr, "seed": seed,
                "scheme_options": options}

    first_seed, *other_seeds = a.noise_seeds
    bias_ks = sorted({max(1, n_conv * f // 8) for f in range(1, 9)})
    trials = plan_trials(graph, bias_ks, list(range(n_conv - a.last_layers, n_conv)), a.ratios)
    if a.report:
        check_analysis_finished(out, trials, other_seeds)
    contrib = analyze(analysis_config(first_seed), trials, out / "contrib.json", workers=a.workers)
    baselines = [contrib["runs"]["baseline"]["accuracy"]] + [
        analyze(analysis_config(s), [Trial("baseline")], out / f"contrib-seed{s}.json", workers=a.workers)
        ["runs"]["baseline"]["accuracy"] for s in other_seeds]
    gain_b, gain_w = gains(contrib)
    write_contributions(contrib, baselines, a.noise_seeds, out)

    # 2. the search at each budget and its equal-memory comparators, made once (plan.json): the planner
    # may change under a long run; the schemes compared and the memory they were chosen by do not
    inputs = {"extra": a.extra, "recipe": a.recipe, "lr": a.lr, "analysis": contrib["config"],
              "accuracy": {key: r["accuracy"] for key, r in contrib["runs"].items()}}
    plan_path = out / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
    if plan is None or plan["inputs"] != inputs:
        plan = {"inputs": inputs, **plan_schemes(graph, gain_b, gain_w, SchemeMemory(graph, options), a, out)}
        atomic_write(plan_path, json.dumps(plan, indent=1))
    if a.measure and not a.report and plan.get("measured", {}).get("n") != a.measure:
        plan = plan_measured(plan, graph, contrib, SchemeMemory(graph, options), a, out)
        atomic_write(plan_path, json.dumps(plan, indent=1))
    budgets, schemes = plan["budgets"], plan["schemes"]

    # 3. final runs, seed by seed (seed 0 of every scheme first), one fresh pool per seed: one data set in memory
    final = {"model": a.model, "data": "cifar10", "train_per_class": a.train_per_class,
             "test_per_class": a.test_per_class, "epochs": a.epochs, "lr": a.lr, "warmup_epochs": 0.5,
             "scheme_options": options}
    def load_runs(name):  # read again at each use: another process may be running other families
        path = out / name
        stored = json.loads(path.read_text()) if path.exists() else {"config": final, "runs": {}}
        if stored["config"] != final:
            raise TinyTrainError(f"{path} holds runs of another setup; use another --out (or delete it)")
        return stored

    def report():
        runs = {name: load_runs(name)["runs"] for name in {runs_file(f) for f in FAMILIES}}
        rows = {name: {**scheme, "accuracy": {r["seed"]: r["accuracy"] for key, r in
                                              runs[runs_file(scheme["family"])].items()
                                              if key.split("@")[0] == name and r["spec"] == scheme["spec"]}}
                for name, scheme in schemes.items()}
        write_outputs(rows, budgets, plan["base_bytes"], final, a.recipe, a.seeds, out, plan.get("measured"))

    for seed in [] if a.report else a.seeds:
        for name in sorted({runs_file(f) for f in a.families}):
            jobs = [(f"{scheme_name}@seed{seed}", json.dumps({**final, "seed": seed}, sort_keys=True), scheme["spec"])
                    for scheme_name, scheme in schemes.items()
                    if scheme["family"] in a.families and runs_file(scheme["family"]) == name]
            with ProcessPoolExecutor(a.workers, mp_context=get_context("spawn")) as pool:
                run_pending(jobs, load_runs(name), out / name, pool)
        report()
    if a.report:
        report()


def plan_schemes(graph, gain_b, gain_w, memory, a, out: Path) -> dict:
    """The searched scheme of each budget (also saved as a scheme file) and the bias-only depth and last-k
    convs nearest in memory at or below the same budget; each scheme with its family and planner memory."""
    from tvm_tinytrain.schemes import save_scheme
    from tvm_tinytrain.search.budget_search import search
    from tvm_tinytrain.search.memory import parse_budget

    n_conv = len(graph.weight_layers()) - 1
    base = memory({"name": "classifier-only", "n_bias_update": 0})
    limits = {extra: base + parse_budget(extra) for extra in a.extra}
    bias = {f"bias-{k}": {"name": f"bias-{k}", "n_bias_update": k} for k in range(1, n_conv + 1)}
    last, k = {}, 1
    while k <= n_conv and (not last or memory(last[f"last-{k - 1}-convs"]) <= max(limits.values())):
        last[f"last-{k}-convs"] = last_k_convs(n_conv, k)
        k += 1
    bias_memory = {name: memory(spec) for name, spec in tqdm(bias.items(), desc="bias-only memory")}
    last_memory = {name: memory(spec) for name, spec in last.items()}
    budgets, schemes = {}, {}
    for extra, limit in limits.items():
        name = f"search-plus-{extra}"
        found = search(graph, gain_b, gain_w, limit, memory, name=name)
        save_scheme({**found["scheme"], **memory.options, "model": graph.name, "lr_weight": a.lr, "lr_bias": a.lr,
                     "about": f"searched ({a.recipe}): classifier-only memory {base:,} B + {extra}"},
                    out / f"{name}.json")
        picks = {"searched": name, "bias-only": nearest_at_or_below(bias_memory, limit),
                 "last-k": nearest_at_or_below(last_memory, limit)}
        budgets[extra] = {"limit_bytes": limit, "gain": found["gain"], **picks}
        for family, pick in picks.items():
            if pick:
                spec = found["scheme"] if family == "searched" else {**bias, **last}[pick]
                schemes.setdefault(pick, {"family": family, "spec": spec, "memory": memory.breakdown(spec)})
    return {"base_bytes": base, "budgets": budgets, "schemes": schemes}


def plan_measured(plan: dict, graph, contrib: dict, memory, a, out: Path) -> dict:
    """`plan` with the measured search's choice at each of its budgets (limits as planned): `search --measure`'s
    candidates run as analysis runs (measured.json, resumed), the best measured saved as measured-plus-<extra>.json
    and added as family "measured", or, if it is a scheme already planned, that scheme named. The planned
    families are left as they are; an earlier measured family (another --measure) is replaced."""
    from tvm_tinytrain.schemes import save_scheme
    from tvm_tinytrain.search.contribution import gains
    from tvm_tinytrain.search.measured_search import candidates, measure, table

    gain_b, gain_w = gains(contrib)
    schemes = {name: s for name, s in plan["schemes"].items() if s["family"] != "measured"}
    budgets = {extra: {key: v for key, v in b.items() if key != "measured"} for extra, b in plan["budgets"].items()}
    measured = {"n": a.measure, "budgets": {}}
    for extra, b in budgets.items():
        found = candidates(graph, gain_b, gain_w, b["limit_bytes"], memory, a.measure)
        search = measure(found, contrib, out / "measured.json", workers=a.workers)
        print(f"measured search, +{extra}:\n{table(search)}", flush=True)
        spec = search["candidates"][search["chosen"]]["scheme"]
        name = next((n for n, s in schemes.items() if same_scheme(s["spec"], spec)), None)
        if name is None:
            name = f"measured-plus-{extra}"
            spec = {**spec, "name": name}
            schemes[name] = {"family": "measured", "spec": spec, "memory": memory.breakdown(spec)}
            save_scheme({**spec, **memory.options, "model": graph.name, "lr_weight": a.lr, "lr_bias": a.lr,
                         "about": f"measured search ({a.recipe}, {a.measure} candidates): classifier-only memory "
                                  f"{plan['base_bytes']:,} B + {extra}"}, out / f"{name}.json")
        b["measured"] = name
        measured["budgets"][extra] = search
    return {**plan, "budgets": budgets, "schemes": schemes, "measured": measured}


def check_analysis_finished(out: Path, trials, other_seeds):
    """--report runs nothing: refuse while the analysis (which it would have to run) is unfinished."""
    def done(path, keys):
        return path.exists() and set(keys) <= set(json.loads(path.read_text())["runs"])

    if not (done(out / "contrib.json", [t.key for t in trials])
            and all(done(out / f"contrib-seed{s}.json", ["baseline"]) for s in other_seeds)):
        raise TinyTrainError(f"--report: the contribution analysis in {out} has not finished; run the command "
                             f"without --report to finish it")


def write_contributions(contrib: dict, baselines: list, seeds: list, out: Path):
    """contrib.md: every gain of the analysis over the noise of a run."""
    noise = run_noise(baselines)
    c = contrib["config"]
    lines = [f"Contribution analysis: {c['model']}, CIFAR-10 {c['train_per_class']} train / {c['test_per_class']} test "
             f"images per class, 1 epoch, lr {c['lr']:g}, seed {c['seed']}. Baseline (classifier only) at seeds "
             f"{', '.join(map(str, seeds))}: {', '.join(f'{100 * b:.2f}' for b in baselines)} %; the noise of a run "
             f"(their standard deviation) {100 * noise:.2f} points; a gain is a difference of two runs, whose "
             f"noise is about {100 * noise * 2 ** 0.5:.2f}.", "",
             "| run | accuracy (%) | gain (points) | gain / noise |", "| --- | ---: | ---: | ---: |"]
    base = contrib["runs"]["baseline"]["accuracy"]
    for key, r in sorted(contrib["runs"].items(), key=lambda kv: (kv[1]["kind"] != "baseline", kv[1]["kind"],
                                                                   kv[1]["k"], kv[1]["layer"], kv[1]["ratio"])):
        gain = r["accuracy"] - base
        lines.append(f"| {key} | {100 * r['accuracy']:.2f} | {100 * gain:+.2f} | {gain / noise:+.1f} |")
    text = "\n".join(lines) + "\n"
    (out / "contrib.md").write_text(text)
    print(text, flush=True)


def write_outputs(rows: dict, budgets: dict, base: int, config: dict, recipe: str, seeds: list, out: Path,
                  measured: dict | None = None):
    """results.md (schemes by memory; each budget's searched and measured scheme against the others; the
    measured search's candidates) and accuracy_vs_memory.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tvm_tinytrain.search.measured_search import table

    def kb(n):
        return f"{n / 1024:.1f}"

    def acc_text(name):
        accs = rows[name]["accuracy"]
        if not accs:
            return "(not run yet)"
        mean, se = mean_se([100 * v for v in accs.values()])
        return f"{mean:.2f} ± {se:.2f} ({len(accs)})" if len(accs) > 1 else f"{mean:.2f} (1)"

    amount = "all" if config["train_per_class"] is None else f"{config['train_per_class']} per class"
    tests = "all" if config["test_per_class"] is None else f"{config['test_per_class']} per class"
    setup = (f"{config['model']} on CIFAR-10 ({amount} training, {tests} test images, 128x128), {config['epochs']} "
             f"epoch(s), batch 1, recipe {recipe} at lr {config['lr']:g}, cosine after {config['warmup_epochs']:g} "
             f"warm-up epoch(s); seeds {', '.join(map(str, seeds))}; classifier-only memory {kb(base)} KB")
    lines = ["| scheme | family | memory (KB) | arena (KB) | trained params (KB) | by seed (%) | mean ± SE (seeds) |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["memory"]["total_bytes"]):
        m = r["memory"]
        by_seed = " / ".join(f"{100 * r['accuracy'][s]:.2f}" if s in r["accuracy"] else "-" for s in seeds)
        lines.append(f"| {name} | {r['family']} | {kb(m['total_bytes'])} | {kb(m['arena_bytes'])} | "
                     f"{kb(m['param_bytes'])} | {by_seed} | {acc_text(name)} |")
    def scheme_cell(name):
        return f"{name}: {kb(rows[name]['memory']['total_bytes'])}, {acc_text(name)}" if name else "none fits"

    def difference(name, other):
        d = paired(rows[name]["accuracy"], rows[other]["accuracy"]) if other else None
        if d is None:
            return "-"
        if len(d[2]) == 1:  # one seed has no standard error
            return f"{100 * d[0]:+.2f} (one seed)"
        return f"{100 * d[0]:+.2f} ± {100 * d[1]:.2f} ({', '.join(f'{100 * x:+.2f}' for x in d[2])})"

    lines += ["", "| budget (KB) | searched (KB) | bias-only (KB) | last-k convs (KB) | searched - bias-only "
              "(points; by seed) | searched - last-k (points; by seed) |", "| --- | --- | --- | --- | --- | --- |"]
    for extra, b in budgets.items():
        cells = [scheme_cell(b[family]) for family in PLANNED]
        cells += [difference(b["searched"], b[family]) for family in PLANNED[1:]]
        lines.append(f"| {kb(b['limit_bytes'])} (+{extra}) | " + " | ".join(cells) + " |")
    if measured:
        lines += ["", f"Measured search (a budget's candidates: {measured['n']} that need a run and every run of the "
                      f"analysis; a scheme already planned keeps its name):",
                  "", "| budget (KB) | measured (KB) | measured - bias-only (points; by seed) | measured - last-k | "
                  "measured - searched |", "| --- | --- | --- | --- | --- |"]
        for extra, b in budgets.items():
            name = b["measured"]
            cells = [scheme_cell(name)] + [difference(name, b[family]) if name != b[family] else "(the same scheme)"
                                           for family in PLANNED[1:] + ("searched",)]
            lines.append(f"| {kb(b['limit_bytes'])} (+{extra}) | " + " | ".join(cells) + " |")
        for extra, search in measured["budgets"].items():
            lines += ["", f"Candidates at +{extra} (one analysis run each; baseline "
                          f"{100 * search['baseline_accuracy']:.2f} %):", "", table(search)]
    text = setup + "\n\n" + "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for family, marker in zip(FAMILIES, "o^sD"):
        pts = []
        for r in rows.values():
            if r["family"] == family and r["accuracy"]:
                mean, se = mean_se([100 * v for v in r["accuracy"].values()])
                pts.append((r["memory"]["total_bytes"] / 1024, mean, se))
        if pts:
            x, y, e = zip(*sorted(pts))
            ax.errorbar(x, y, yerr=e, marker=marker, capsize=3, label=family)
    ax.set_xlabel("SRAM of the scheme: arena + trained parameters (KB)")
    ax.set_ylabel("test accuracy (%), mean ± SE over seeds")
    ax.set_title(setup, fontsize=6, wrap=True)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_memory.png", dpi=120)
    plt.close(fig)
    print(text, flush=True)


if __name__ == "__main__":
    main()
