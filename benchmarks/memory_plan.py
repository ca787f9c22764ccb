"""Peak live bytes of the training step per backbone and scheme, beside the paper.

For each of the paper's three backbones (10-class head) and the schemes bias-only, last-2,
the paper's ~100 KB scheme and full, the training graph is built by our passes and its
liveness analysed twice: in the order `quantized_autodiff` + `sgd_update` emit it (the whole
backward after the forward, masks taken in the backward) and after the whole pipeline (the
memory passes and `reorder`, as the generated program's arena holds it: a sample that arrives in
rows has no buffer, codegen/input_stream.py); then the C program's figures are read from the
generated project's memory.json (its arena, ours and the first-fit baseline, and the trained
parameters it keeps in SRAM).  The paper's peaks with sparse update + reordering on STM32F746 are
141 / 135 / 173 KB (MbV2-w0.35, Proxyless-w0.3, MCUNet-5FPS).  Ours are the tensors of the graph
and the scratch of the fused and in-place kernels (a whole sample is received into its arena slot,
so arena + parameters is the step's SRAM on a board, besides the stack).

    python -m benchmarks.memory_plan [--out DIR]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.codegen.input_stream import arena_report, program_input
from tvm_tinytrain.compiler import compile
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme

SCHEMES = ("bias-only", "last-2", "paper-100kb", "full")
PAPER_KB = {"mbv2-w0.35": 141, "proxyless-w0.3": 135, "mcunet-5fps": 173}


def measure(model: str, scheme_spec: str) -> dict:
    graph = load_backbone(model, num_classes=10)
    scheme = resolve_scheme(scheme_spec, graph)
    naive = build_training(graph, scheme, stop_after="sgd_update")
    compiled = compile(graph, scheme)
    program, c = compiled.program, compiled.memory
    r = arena_report(program.memory, program_input(program.mod, program.predict)[0])
    return {"model": model, "scheme": scheme.name, "naive_peak_bytes": analyze(naive.mod).peak_bytes,
            "peak_bytes": r.peak_bytes, "peak_at": f"{r.ops[r.peak_op][0]} of {r.ops[r.peak_op][1]}",
            "updated_param_bytes": r.updated_param_bytes, "arena_bytes": c["arena_bytes"],
            "first_fit_arena_bytes": c["first_fit_arena_bytes"], "sram_param_bytes": c["updated_param_bytes"],
            "input_rows": c["input"]["rows"], "paper_peak_kb": PAPER_KB[model]}


def arena_markdown(rows) -> str:
    """The C program's planned arena and the trained parameters it keeps in SRAM."""
    lines = ["| model | scheme | arena, ours (KB) | arena, first fit (KB) | trained params in SRAM (KB) | "
             "arena + params (KB) | paper peak (KB) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        total = (r["arena_bytes"] + r["sram_param_bytes"]) / 1024
        lines.append(f"| {r['model']} | {r['scheme']} | {r['arena_bytes'] / 1024:.0f} | "
                     f"{r['first_fit_arena_bytes'] / 1024:.0f} | {r['sram_param_bytes'] / 1024:.0f} | {total:.0f} | "
                     f"{r['paper_peak_kb'] if r['scheme'].startswith('paper') else ''} |")
    return "\n".join(lines)


def markdown(rows) -> str:
    lines = ["| model | scheme | naive order (KB) | reordered (KB) | + updated params (KB) | peak at | paper, sparse + reorder (KB) |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['scheme']} | {r['naive_peak_bytes'] / 1024:.0f} | "
                     f"{r['peak_bytes'] / 1024:.0f} | {(r['peak_bytes'] + r['updated_param_bytes']) / 1024:.0f} | "
                     f"{r['peak_at']} | {r['paper_peak_kb'] if r['scheme'].startswith('paper') else ''} |")
    return "\n".join(lines)


def plot(rows, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BACKBONES), figsize=(13, 4), sharey=True)
    for ax, model in zip(axes, BACKBONES):
        mine = [r for r in rows if r["model"] == model]
        names = [r["scheme"] for r in mine]
        ax.bar([i - 0.2 for i in range(len(mine))], [r["naive_peak_bytes"] / 1024 for r in mine], 0.4, label="naive order")
        ax.bar([i + 0.2 for i in range(len(mine))], [r["peak_bytes"] / 1024 for r in mine], 0.4, label="reordered")
        ax.axhline(PAPER_KB[model], color="k", ls="--", lw=1, label="paper (sparse + reorder)")
        ax.set_xticks(range(len(mine)), names, rotation=30)
        ax.set_yscale("log")
        ax.set_title(model)
    axes[0].set_ylabel("peak live KB (log)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/memory_plan")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s) for m in BACKBONES for s in SCHEMES]
    rows = [measure(m, s) for m, s in tqdm(jobs, desc="memory plans")]
    table = markdown(rows) + "\n\n" + arena_markdown(rows)
    print(table)
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    (out / "results.md").write_text(table + "\n")
    plot(rows, out / "memory_plan.png")
    print(f"wrote {out}/summary.json, results.md, memory_plan.png")
    return rows


if __name__ == "__main__":
    main()
