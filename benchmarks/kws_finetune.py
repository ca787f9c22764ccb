"""Keyword spotting, the second modality: the project's KWS CNN (tvm_tinytrain/models/kws_cnn.py),
pretrained in fp32 on 8 of the 12 Speech Commands classes (benchmarks/kws_pretrain.py),
imported through torch.export, quantized to int8, given a 12-class head, then fine-tuned with
device-sized sparse updates by the generated C on this host on the train split of all 12
classes (on, off, stop, go are new words).  Test clips come from speakers never trained on.

    python -m benchmarks.kws_pretrain        # first (about 5 minutes): out/kws/kws_pretrained.pt
    python -m benchmarks.kws_finetune [--schemes bias-only last-1 last-2 full] [--epochs 5]

writes summary.json, results.md and kws_finetune.png into --out (default out/kws_finetune/).
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np


def run_scheme(scheme_name: str, args: dict) -> dict:
    from benchmarks.kws_pretrain import NEW_CLASSES, finetune_graph
    from tvm_tinytrain.data.datasets import load_dataset
    from tvm_tinytrain.compiler import compile
    from tvm_tinytrain.search.memory import SchemeMemory
    from tvm_tinytrain.training.engines import CEngine
    from tvm_tinytrain.training.fit import fit

    t0 = time.time()
    graph = finetune_graph(seed=args["seed"])
    data = load_dataset("speech-commands", tuple(graph.input_shape), seed=args["seed"], progress=False)
    compiled = compile(graph, scheme_name, lr_weight=args["lr"], lr_bias=args["lr"])
    scheme = compiled.scheme
    new = np.isin(data.test_y, [data.classes.index(c) for c in NEW_CLASSES])
    with CEngine(compiled.program) as engine:
        before = np.array([np.argmax(engine.predict(x)) for x in data.test_x])
        hist = fit(engine, scheme, data, args["epochs"], warmup_epochs=args["warmup_epochs"], seed=args["seed"],
                   progress=False)
        after = np.array([np.argmax(engine.predict(x)) for x in data.test_x])
    memory = SchemeMemory(graph).breakdown({"name": scheme.name, **_spec(scheme_name, graph)})

    def acc(pred, mask):
        return float(np.mean(pred[mask] == data.test_y[mask]))

    everything = np.ones_like(new)
    return {"scheme": scheme_name, "memory": memory, "epochs": hist.epochs, "seconds": round(time.time() - t0, 1),
            "before": {"all": acc(before, everything), "new": acc(before, new), "old": acc(before, ~new)},
            "after": {"all": acc(after, everything), "new": acc(after, new), "old": acc(after, ~new)},
            "n_train": int(len(data.train_x)), "n_test": int(len(data.test_x))}


def _spec(name, graph) -> dict:
    from tvm_tinytrain.schemes import load_spec

    spec = load_spec(name, graph)
    spec.pop("name", None)
    return spec


def write_outputs(summary: dict, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    rows, cfg = summary["results"], summary["config"]
    lines = ["| scheme | SRAM: arena + trained params (KB) | all 12 before -> after (%) | new 4 words (%) | "
             "old 8 words (%) |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        b, a, m = r["before"], r["after"], r["memory"]
        lines.append(f"| {r['scheme']} | {m['total_bytes'] / 1024:.1f} ({m['arena_bytes'] / 1024:.1f} + "
                     f"{m['param_bytes'] / 1024:.1f}) | {100 * b['all']:.1f} -> {100 * a['all']:.1f} | "
                     f"{100 * b['new']:.1f} -> {100 * a['new']:.1f} | {100 * b['old']:.1f} -> {100 * a['old']:.1f} |")
    setup = (f"KWS CNN (int8), Speech Commands v0.02 test set split by speaker: {rows[0]['n_train']} train / "
             f"{rows[0]['n_test']} test clips, 49x40 log-mel; {cfg['epochs']} epochs, batch 1, lr {cfg['lr']:g}, "
             f"cosine with {cfg['warmup_epochs']:g} warm-up epoch(s), seed {cfg['seed']}")
    (out / "results.md").write_text(setup + "\n\n" + "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in rows:
        ax.plot([0] + [e["epoch"] for e in r["epochs"]],
                [100 * r["before"]["all"]] + [100 * e["test_accuracy"] for e in r["epochs"]], marker="o",
                label=f"{r['scheme']} ({r['memory']['total_bytes'] / 1024:.0f} KB)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy, 12 classes (%)")
    ax.set_title(setup, fontsize=6)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "kws_finetune.png", dpi=120)
    plt.close(fig)
    print(setup + "\n\n" + "\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--schemes", nargs="+", default=["bias-only", "last-1", "last-2", "full"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--warmup-epochs", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="out/kws_finetune")
    a = p.parse_args(argv)
    cfg = {"epochs": a.epochs, "lr": a.lr, "warmup_epochs": a.warmup_epochs, "seed": a.seed}
    with ProcessPoolExecutor(a.workers, mp_context=get_context("spawn")) as pool:
        rows = [f.result() for f in [pool.submit(run_scheme, s, cfg) for s in a.schemes]]
    write_outputs({"config": cfg, "results": rows}, Path(a.out))


if __name__ == "__main__":
    main()
