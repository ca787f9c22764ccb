"""Training step and inference on the device, per backbone and scheme, beside the paper.

For each of the paper's three backbones (10-class head) and the schemes bias-only, paper-100kb
(the paper's ~100 KB scheme for that model), last-2 and full, the training program is
compiled to C and built into firmware for the board (the board's flash/SRAM budgets are in
its linker script).  A program over budget is not hidden: its row says fits=false and keeps
the build's message (how many bytes are missing, what is largest).  A program that fits runs
1 predict + 1 training step on QEMU with a real CIFAR-10 test image (resized 32 -> 128, int8):

  instructions per step / per inference  counted by QEMU (-icount shift=0 + SysTick, see
                                         tvm_tinytrain/targets/qemu.py): instructions, not cycles
  peak SRAM                              static RAM (.data + .bss: arena, trained params, input)
                                         + the stack high-water mark the firmware measured
  flash                                  code + frozen weights + initial trained params
  latency estimate                       instructions / 216 MHz, i.e. ASSUMING 1 cycle per
                                         instruction at 216 MHz (the paper's STM32F746 clock;
                                         real memory stalls make it slower)

The "inference" row is the predict request of the paper-100kb build (the same firmware; a
bias-only build if paper-100kb is not among the schemes or does not fit); its `inference_from`
says which.  With `--target host` the same C is built with gcc for this machine
(codegen/host_runner.py's main) and timed in ms per step instead (no instruction counts).

Paper (MCUNetV3, sparse update + reordering, STM32F746 at 216 MHz): peak SRAM 141 / 135 / 173 KB
and training step 373 / 443 / 546 ms for MbV2-w0.35 / Proxyless-w0.3 / MCUNet-5FPS, i.e.
80.6 M / 95.7 M / 117.9 M cycles.

Unless --no-peers, benchmarks.peers also runs on this host (PyTorch fp32 training step, TVM
relax.training, our C on the host) for the paper-100kb scheme (MCUNet only with --quick).

    python -m benchmarks.run --target cortex-m7|cortex-m4|cortex-m55|host [--out DIR] [--quick]
                             [--models ...] [--schemes ...] [--no-peers]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN, encode_requests

TARGETS = ("cortex-m7", "cortex-m4", "cortex-m55", "host")
SCHEMES = ("bias-only", "paper-100kb", "last-2", "full")
QUICK_SCHEMES = ("paper-100kb",)
CLOCK_HZ = 216e6
LATENCY_NOTE = "assuming 1 cycle per instruction at 216 MHz"
PAPER = {  # MCUNetV3 on STM32F746 (216 MHz Cortex-M7), sparse update + reordering
    "mbv2-w0.35": {"peak_kb": 141, "latency_ms": 373},
    "proxyless-w0.3": {"peak_kb": 135, "latency_ms": 443},
    "mcunet-5fps": {"peak_kb": 173, "latency_ms": 546},
}
for _p in PAPER.values():
    _p["cycles"] = _p["latency_ms"] * 1e-3 * CLOCK_HZ  # 80.6 M / 95.7 M / 117.9 M
HOST_REPEATS = 5


def sample_image():
    """One real CIFAR-10 test image as the model's int8 input (3, 128, 128) and its label."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import resize_to, to_int8_input

    pixels, labels = load_cifar10("test", per_class=1)
    return to_int8_input(resize_to(pixels[0], 128)), int(labels[0])


def compile_project(model: str, scheme_spec: str, folder: Path):
    """model + scheme -> generated C project in `folder`; returns the resolved scheme name."""
    from tvm_tinytrain.codegen.emit import generate, write_project
    from tvm_tinytrain.passes.pipeline import build_training
    from tvm_tinytrain.schemes import resolve_scheme

    graph = load_backbone(model, num_classes=10)
    scheme = resolve_scheme(scheme_spec, graph)
    write_project(generate(build_training(graph, scheme)), folder, force=True)
    return scheme.name


def _blank_row(model, scheme, target):
    return {"model": model, "scheme": scheme, "scheme_resolved": None, "target": target, "fits": None,
            "peak_sram_bytes": None, "static_ram_bytes": None, "stack_bytes": None, "flash_bytes": None,
            "arena_bytes": None, "instructions_per_step": None, "instructions_per_inference": None,
            "latency_ms_estimate": None, "inference_latency_ms_estimate": None, "latency_note": None,
            "ms_per_step": None, "ms_per_inference": None, "overflow": None, "error": None,
            "paper_peak_kb": PAPER[model]["peak_kb"] if scheme.startswith("paper") else None,
            "paper_latency_ms": PAPER[model]["latency_ms"] if scheme.startswith("paper") else None,
            "paper_cycles": PAPER[model]["cycles"] if scheme.startswith("paper") else None}


def measure_board(model, scheme, board, image, label) -> dict:
    from tvm_tinytrain.targets.qemu import QemuProgram

    row = _blank_row(model, scheme, board)
    with tempfile.TemporaryDirectory(prefix="tinytrain-bench-") as tmp:
        try:
            row["scheme_resolved"] = compile_project(model, scheme, Path(tmp))
            row["arena_bytes"] = json.loads((Path(tmp) / "memory.json").read_text())["arena_bytes"]
            prog = QemuProgram(Path(tmp), board)
        except TinyTrainError as err:
            row["fits"] = False
            if "does not fit" in str(err):
                row["overflow"] = str(err)
            else:
                row["error"] = str(err)
            return row
        row["fits"] = True
        row["static_ram_bytes"], row["flash_bytes"] = prog.ram_bytes, prog.flash_bytes
        try:
            _answers, _params, error, stack = prog.run([(PREDICT, 0, image), (TRAIN, label, image)], timeout=900)
        except TinyTrainError as err:
            row["error"] = str(err)
            return row
        if error:
            row["error"] = f"the firmware reported tt_error() = {error}"
        pred, step = prog.last_counts
        row.update(stack_bytes=stack, peak_sram_bytes=prog.ram_bytes + stack, instructions_per_step=step,
                   instructions_per_inference=pred, latency_ms_estimate=step / CLOCK_HZ * 1e3,
                   inference_latency_ms_estimate=pred / CLOCK_HZ * 1e3, latency_note=LATENCY_NOTE)
    return row


LAUNCHER_C = r"""
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 125;
    pid_t pid = fork();
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 126;
    fprintf(stderr, "TT_MAXRSS_KB %ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
"""


def rss_launcher() -> Path:
    """A tiny C program: runs argv[1:] as its child and prints the child's peak RSS (wait4).

    Measuring RSS of a child forked straight from this (large) Python process is wrong on Linux:
    the child's RSS high-water mark carries the parent's over exec.  Forked from this ~1 MB
    launcher instead, the child's peak is its own."""
    import hashlib

    path = Path(tempfile.gettempdir()) / f"tinytrain_rss_launcher_{hashlib.sha1(LAUNCHER_C.encode()).hexdigest()[:10]}"
    if not path.exists():
        src = path.with_suffix(".c")
        src.write_text(LAUNCHER_C)
        tmp = path.with_name(path.name + f".{os.getpid()}")
        subprocess.run(["gcc", "-O1", "-o", str(tmp), str(src)], check=True, capture_output=True)
        os.replace(tmp, path)
    return path


def run_host_exe(exe: Path, folder: Path, memory: dict, requests) -> tuple[float, int]:
    """Run the host build on `requests`: (wall seconds, peak RSS of that process in bytes)."""
    req, out = folder / "bench_requests.bin", folder / "bench_answers.bin"
    req.write_bytes(encode_requests(requests, memory, "benchmark"))
    start = time.perf_counter()
    proc = subprocess.run([str(rss_launcher()), str(exe), str(req), str(out)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise TinyTrainError(f"host runner failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rss = [int(l.split()[1]) for l in proc.stderr.splitlines() if l.startswith("TT_MAXRSS_KB ")]
    return seconds, rss[-1] * 1024


def time_host(folder: Path, image, label, repeats: int = HOST_REPEATS) -> dict:
    """ms per training step / inference of the host build (minus the 1-request baseline)."""
    from tvm_tinytrain.codegen.host_runner import HostProgram

    prog = HostProgram(folder)
    base, rss = run_host_exe(prog.exe, folder, prog.memory, [(PREDICT, 0, image)])
    train, rss_t = run_host_exe(prog.exe, folder, prog.memory,
                                [(PREDICT, 0, image)] + [(TRAIN, label, image)] * repeats)
    pred, _ = run_host_exe(prog.exe, folder, prog.memory, [(PREDICT, 0, image)] * (1 + repeats))
    mem = prog.memory
    return {"ms_per_step": max(train - base, 0.0) / repeats * 1e3, "ms_per_inference": max(pred - base, 0.0) / repeats * 1e3,
            "rss_bytes": max(rss, rss_t), "arena_bytes": mem["arena_bytes"],
            "updated_param_bytes": mem["updated_param_bytes"]}


def measure_host(model, scheme, image, label) -> dict:
    row = _blank_row(model, scheme, "host")
    with tempfile.TemporaryDirectory(prefix="tinytrain-bench-") as tmp:
        try:
            row["scheme_resolved"] = compile_project(model, scheme, Path(tmp))
            t = time_host(Path(tmp), image, label)
        except TinyTrainError as err:
            row["fits"], row["error"] = False, str(err)
            return row
    row.update(fits=True, ms_per_step=t["ms_per_step"], ms_per_inference=t["ms_per_inference"],
               arena_bytes=t["arena_bytes"], peak_sram_bytes=t["arena_bytes"] + t["updated_param_bytes"],
               host_rss_bytes=t["rss_bytes"])
    return row


def inference_row(rows, model, target):
    """The predict request of the paper-100kb build (else of a bias-only build)."""
    for source in ("paper-100kb", "bias-only"):
        for r in rows:
            if r["model"] == model and r["scheme"] == source and r["fits"] and not r["error"]:
                row = _blank_row(model, "inference", target)
                row.update(fits=True, inference_from=f"predict request of the {source} build ({r['scheme_resolved']})",
                           scheme_resolved=r["scheme_resolved"], peak_sram_bytes=r["peak_sram_bytes"],
                           static_ram_bytes=r["static_ram_bytes"], stack_bytes=r["stack_bytes"],
                           flash_bytes=r["flash_bytes"], arena_bytes=r["arena_bytes"],
                           instructions_per_inference=r["instructions_per_inference"],
                           latency_ms_estimate=r["inference_latency_ms_estimate"],
                           inference_latency_ms_estimate=r["inference_latency_ms_estimate"],
                           latency_note=r["latency_note"], ms_per_inference=r["ms_per_inference"])
                return row
    return None


# -- reporting ------------------------------------------------------------------------------
def _kb(n):
    return "" if n is None else f"{n / 1024:.1f}"


def _m(n):
    return "" if n is None else f"{n / 1e6:.1f}"


def _f(v, fmt="{:.0f}"):
    return "" if v is None else fmt.format(v)


def markdown(rows, target) -> str:
    if target == "host":
        lines = ["| model | scheme | fits | ms / step | ms / inference | arena + trained params (KB) | paper peak (KB) | paper ms (M7) |",
                 "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(f"| {r['model']} | {r['scheme']}{' (' + r['scheme_resolved'] + ')' if r['scheme_resolved'] and r['scheme_resolved'] != r['scheme'] else ''} | "
                         f"{'yes' if r['fits'] else 'NO'} | {_f(r['ms_per_step'], '{:.1f}')} | {_f(r['ms_per_inference'], '{:.1f}')} | "
                         f"{_kb(r['peak_sram_bytes'])} | {_f(r['paper_peak_kb'])} | {_f(r['paper_latency_ms'])} |")
    else:
        lines = [f"| model | scheme | fits | peak SRAM (KB) | flash (KB) | M instr / step | M instr / inference | "
                 f"est. ms ({LATENCY_NOTE}) | paper peak (KB) | paper M cycles / step | paper ms |",
                 "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            name = r["scheme"] + (f" ({r['scheme_resolved']})" if r["scheme_resolved"] and r["scheme_resolved"] != r["scheme"] else "")
            lines.append(f"| {r['model']} | {name} | {'yes' if r['fits'] else 'NO'} | {_kb(r['peak_sram_bytes'])} | "
                         f"{_kb(r['flash_bytes'])} | {_m(r['instructions_per_step'])} | {_m(r['instructions_per_inference'])} | "
                         f"{_f(r['latency_ms_estimate'])} | {_f(r['paper_peak_kb'])} | {_m(r['paper_cycles'])} | "
                         f"{_f(r['paper_latency_ms'])} |")
    notes = []
    for r in rows:
        if r.get("inference_from"):
            notes.append(f"- {r['model']} inference: {r['inference_from']}")
        if r["overflow"]:
            notes.append(f"- {r['model']} {r['scheme']} does not fit: {r['overflow']}")
        if r["error"]:
            notes.append(f"- {r['model']} {r['scheme']} error: {r['error'].splitlines()[0]}")
    return "\n".join(lines + ([""] + notes if notes else []))


def plot(rows, target, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in BACKBONES if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    schemes = [s for s in ("inference", *SCHEMES) if any(r["scheme"] == s for r in rows)]
    width = 0.8 / max(len(schemes), 1)
    for j, scheme in enumerate(schemes):
        xs, ys, ts = [], [], []
        for i, m in enumerate(models):
            r = next((r for r in rows if r["model"] == m and r["scheme"] == scheme), None)
            if r is None:
                continue
            xs.append(i + (j - (len(schemes) - 1) / 2) * width)
            ys.append((r["peak_sram_bytes"] or 0) / 1024)
            ts.append((r["ms_per_step"] if target == "host" else (r["instructions_per_step"] or 0) / 1e6) or 0)
        axes[0].bar(xs, ys, width, label=scheme)
        if scheme != "inference":
            axes[1].bar(xs, ts, width, label=scheme)
    for i, m in enumerate(models):
        axes[0].hlines(PAPER[m]["peak_kb"], i - 0.45, i + 0.45, colors="k", linestyles="--",
                       label="paper peak (sparse + reorder)" if i == 0 else None)
        if target != "host":
            axes[1].hlines(PAPER[m]["cycles"] / 1e6, i - 0.45, i + 0.45, colors="k", linestyles="--",
                           label="paper M cycles / step (216 MHz M7)" if i == 0 else None)
    for ax in axes:
        ax.set_xticks(range(len(models)), models)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("peak SRAM (KB)" if target != "host" else "arena + trained params (KB)")
    axes[0].set_title(f"peak SRAM, {target} (0 = does not fit)")
    axes[1].set_ylabel("ms / training step (host)" if target == "host" else "M instructions / training step")
    axes[1].set_title("training step: ours (instructions) vs the paper (cycles)" if target != "host"
                      else "training step on this host")
    if target != "host":
        axes[1].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, choices=TARGETS)
    parser.add_argument("--out", default=None, help="output folder (default out/benchmarks/<target>)")
    parser.add_argument("--quick", action="store_true", help="paper-100kb only; peers for MCUNet only")
    parser.add_argument("--models", nargs="+", default=None, choices=BACKBONES)
    parser.add_argument("--schemes", nargs="+", default=None, help=f"from {', '.join(SCHEMES)} (or any scheme spec)")
    parser.add_argument("--no-peers", action="store_true", help="skip benchmarks.peers (PyTorch, TVM relax.training)")
    args = parser.parse_args(argv)
    t0 = time.time()
    out = Path(args.out or f"out/benchmarks/{args.target}")
    out.mkdir(parents=True, exist_ok=True)
    models = args.models or list(BACKBONES)
    schemes = args.schemes or list(QUICK_SCHEMES if args.quick else SCHEMES)
    image, label = sample_image()

    rows = []
    for model in models:
        mine = []
        for scheme in schemes:
            t = time.time()
            row = (measure_host(model, scheme, image, label) if args.target == "host"
                   else measure_board(model, scheme, args.target, image, label))
            row["seconds"] = round(time.time() - t, 1)
            print(f"  {model} {scheme}: fits={row['fits']} ({row['seconds']} s)", file=sys.stderr)
            mine.append(row)
        inf = inference_row(mine, model, args.target)
        rows += ([inf] if inf else []) + mine

    peers = None
    if not args.no_peers:
        from benchmarks import peers as peers_mod

        peer_models = ["mcunet-5fps"] if args.quick else models
        peers = peers_mod.run_peers(peer_models, ["paper-100kb"])

    table = markdown(rows, args.target)
    header = (f"target {args.target}; one CIFAR-10 test image (label {label}) resized to 128x128; "
              + ("instructions counted by QEMU; latency " + LATENCY_NOTE + " (the paper's clock)"
                 if args.target != "host" else "the same C built with gcc -O2 for this host, wall time"))
    text = header + "\n\n" + table
    if peers is not None:
        text += "\n\n## Peers on this host\n\n" + peers_mod.markdown(peers)
    seconds = time.time() - t0
    text += f"\n\nrun time {seconds:.0f} s\n"
    print(text)
    summary = {"target": args.target, "latency_note": LATENCY_NOTE if args.target != "host" else None,
               "image_label": label, "paper": PAPER, "rows": rows, "peers": peers, "seconds": round(seconds, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    (out / "results.md").write_text(text)
    plot(rows, args.target, out / "benchmark.png")
    print(f"wrote {out}/summary.json, results.md, benchmark.png")
    return summary


if __name__ == "__main__":
    main()
