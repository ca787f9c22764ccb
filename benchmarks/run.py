"""Training step and inference on the device, per backbone and scheme, beside the paper.

For each of the paper's three backbones (10-class head) and the schemes bias-only, paper-100kb
(the paper's ~100 KB scheme for that model), last-2 (last-k with k = 2) and full, the training
program is compiled to C and built into firmware for the board (the board's flash/SRAM budgets
are in its linker script).  A program over budget is not hidden: its row says fits=false, keeps
the build's message (how many bytes are missing, what is largest) and is then built once more
with the budgets lifted to the emulated board's whole memory (`UNBOUNDED`), so its row still has
the SRAM and flash it needs and its instructions per step.  Each build runs
1 predict + N training steps on QEMU (a real CIFAR-10 test image for the predict, N CIFAR-10
training images, resized 32 -> 128, int8); the same C built for this host runs the same requests
and the losses are compared (`device_vs_host`: bit for bit, else the largest relative difference).

  instructions per step / per inference  counted by QEMU (-icount shift=0 + SysTick, see
                                         tvm_tinytrain/targets/qemu.py): instructions, not
                                         cycles; per step = mean over the N steps
  peak SRAM                              static RAM (.data + .bss: arena, trained params, input)
                                         + the stack high-water mark the firmware measured
  flash                                  code + frozen weights + initial trained params
  latency estimate                       instructions / the board clock (`CLOCK_HZ`), i.e.
                                         ASSUMING 1 cycle per instruction (cycles ~ instructions;
                                         real memory stalls make it slower)

The "inference" row is the predict request of the paper-100kb build (the same firmware; the
bias-only build if paper-100kb is not among the schemes); its `inference_from` says which.
With `--target host` the same C is built with gcc for this machine (codegen/host_runner.py's
main) and timed in ms per step instead (no instruction counts).

Paper (MCUNetV3, sparse update + reordering, STM32F746 at 216 MHz): peak SRAM 141 / 135 / 173 KB
and training step 373 / 443 / 546 ms for MbV2-w0.35 / Proxyless-w0.3 / MCUNet-5FPS, i.e.
80.6 M / 95.7 M / 117.9 M cycles.

Unless --no-peers, benchmarks.peers also runs on this host (PyTorch and TVM relax.training fp32
training steps, full and the same sparse scheme, and our C on the host) for the paper-100kb
scheme (MCUNet only with --quick).  On cortex-m7 (unless --no-tinyengine), TinyEngine, the paper's
engine, runs its own demo (paper-49kb MCUNet) beside ours on 10 CIFAR-10 training images
(benchmarks/tinyengine_peer.py; a one-line row when ../shared/peers is absent).  Outputs in --out (default out/benchmarks/<target>):
summary.json, results.md, benchmark.png and peers.png; other files there are left alone, and
these four are only replaced if they are a previous run's.

    python -m benchmarks.run --target cortex-m7|cortex-m4|cortex-m55|host [--out DIR] [--quick]
                             [--models ...] [--schemes ...] [--check-steps N] [--no-peers] [--no-tinyengine]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN, encode_requests
from tvm_tinytrain.errors import TinyTrainError

TARGETS = ("cortex-m7", "cortex-m4", "cortex-m55", "host")
SCHEMES = ("bias-only", "paper-100kb", "last-2", "full")
QUICK_SCHEMES = ("paper-100kb",)
CHECK_STEPS, QUICK_CHECK_STEPS = 8, 3
CLOCK_HZ = {"cortex-m7": (216e6, "216 MHz, the paper's STM32F746"),  # (clock, where it comes from)
            "cortex-m7-sp": (216e6, "216 MHz, the paper's STM32F746"),
            "cortex-m4": (180e6, "180 MHz, assumed: an STM32F429-class part (256 KB SRAM)"),
            "cortex-m55": (400e6, "400 MHz, assumed: an Alif Ensemble-class high-performance M55")}
# Budgets lifted to the emulated board's whole memory, to measure what does not fit.
UNBOUNDED = {"cortex-m7": {"flash": {"origin": "0x00000000", "length": "4M"},      # mps2 SSRAM1
                           "ram": {"origin": "0x20000000", "length": "4M"}},       # mps2 SSRAM2/3
             "cortex-m4": {"flash": {"origin": "0x00000000", "length": "4M"},
                           "ram": {"origin": "0x20000000", "length": "4M"}},
             "cortex-m55": {"flash": {"origin": "0x01000000", "length": "2M"},     # an547 FPGA SRAM
                            "ram": {"origin": "0x21000000", "length": "4M"}}}      # an547 SRAM at 0x21000000
PAPER = {  # MCUNetV3 on STM32F746 (216 MHz Cortex-M7), sparse update + reordering
    "mbv2-w0.35": {"peak_kb": 141, "latency_ms": 373},
    "proxyless-w0.3": {"peak_kb": 135, "latency_ms": 443},
    "mcunet-5fps": {"peak_kb": 173, "latency_ms": 546},
}
for _p in PAPER.values():
    _p["cycles"] = _p["latency_ms"] * 1e-3 * 216e6  # 80.6 M / 95.7 M / 117.9 M
PAPER_LINE = ("paper (MCUNetV3, sparse update + reordering, STM32F746 Cortex-M7 at 216 MHz): peak SRAM "
              "141 / 135 / 173 KB, training step 373 / 443 / 546 ms = 80.6 M / 95.7 M / 117.9 M cycles "
              "for mbv2-w0.35 / proxyless-w0.3 / mcunet-5fps")
HOST_REPEATS, TRIALS = 5, 3
# Beside TinyEngine (benchmarks/tinyengine_peer.py): its demo is paper-49kb MCUNet; ours on the same images,
# built for QEMU's double-precision FPU and for the STM32F746's single-precision one.
TINYENGINE_IMAGES = 10
OURS_BUILDS = {"cortex-m7": "tvm-tinytrain (-O2 -ffp-contract=off, QEMU's double-precision FPU)",
               "cortex-m7-sp": "tvm-tinytrain (-O2 -ffp-contract=off, single-precision FPU as the STM32F746)"}
OUTPUT_FILES = ("summary.json", "results.md", "benchmark.png", "peers.png")


def latency_note(target) -> str | None:
    if target not in CLOCK_HZ:
        return None
    return f"cycles ~ instructions: instructions / {CLOCK_HZ[target][1]} (1 cycle per instruction assumed)"


def sample_image():
    """One real CIFAR-10 test image as the model's int8 input (3, 128, 128) and its label."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import resize_to, to_int8_input

    pixels, labels = load_cifar10("test", per_class=1)
    return to_int8_input(resize_to(pixels[0], 128)), int(labels[0])


def training_images(n: int):
    """n CIFAR-10 training images (one per class in turn) as (int8 input, label) pairs."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import resize_to, to_int8_input

    pixels, labels = load_cifar10("train", per_class=-(-n // 10))
    order = np.argsort(np.arange(len(labels)) % -(-n // 10), kind="stable")[:n]  # class 0..9, then again
    return [(to_int8_input(resize_to(pixels[i], 128)), int(labels[i])) for i in order]


def compile_project(model: str, scheme_spec: str, folder: Path, sram_budget: int | None = None):
    """model + scheme -> generated C project in `folder`; returns the resolved scheme name.  `sram_budget`:
    the compiler's (bytes; None: the memory passes that cost instructions are off)."""
    from tvm_tinytrain.codegen.emit import write_project
    from tvm_tinytrain.compiler import compile

    compiled = compile(load_backbone(model, num_classes=10), scheme_spec, sram_budget=sram_budget)
    write_project(compiled.project, folder, force=True)
    return compiled.scheme.name


def _blank_row(model, scheme, target):
    paper = PAPER[model] if scheme.startswith("paper") else {}
    return {"model": model, "scheme": scheme, "scheme_resolved": None, "target": target, "fits": None,
            "peak_sram_bytes": None, "static_ram_bytes": None, "stack_bytes": None, "flash_bytes": None,
            "sram_budget_bytes": None, "flash_budget_bytes": None, "measured_unbounded": False, "memory_passes": None,
            "arena_bytes": None, "instructions_per_step": None, "instructions_per_step_range": None,
            "instructions_per_inference": None, "latency_ms_estimate": None,
            "inference_latency_ms_estimate": None, "latency_note": None, "ms_per_step": None,
            "ms_per_inference": None, "device_vs_host": None, "overflow": None, "error": None,
            "paper_peak_kb": paper.get("peak_kb"), "paper_latency_ms": paper.get("latency_ms"),
            "paper_cycles": paper.get("cycles")}


def _fill_counts(row, prog, stack, target):
    """Peak SRAM, flash and the instruction counts of the last run (predict first, then steps)."""
    pred, steps = prog.last_counts[0], prog.last_counts[1:]
    step = int(round(float(np.mean(steps))))
    clock = CLOCK_HZ[target][0]
    row.update(static_ram_bytes=prog.ram_bytes, flash_bytes=prog.flash_bytes, stack_bytes=stack,
               peak_sram_bytes=prog.ram_bytes + stack, instructions_per_step=step,
               instructions_per_step_range=[min(steps), max(steps)], instructions_per_inference=pred,
               latency_ms_estimate=step / clock * 1e3, inference_latency_ms_estimate=pred / clock * 1e3,
               latency_note=latency_note(target))


def device_vs_host(folder: Path, requests, answers, params) -> dict:
    """The same requests through the host build of the same C: losses, logits, trained values."""
    from tvm_tinytrain.codegen.host_runner import HostProgram

    host_answers, host_params, host_error = HostProgram(folder).run(requests)
    steps = [i for i, (kind, _, _) in enumerate(requests) if kind == TRAIN]
    dev, host = [float(answers[i]) for i in steps], [float(host_answers[i]) for i in steps]
    rel = max(abs(d - h) / max(abs(h), 1e-30) for d, h in zip(dev, host))
    return {"steps": len(steps), "device_losses": dev, "host_losses": host, "bit_exact": dev == host,
            "max_rel_diff": rel, "within_1e-5": rel <= 1e-5,
            "predict_equal": all(np.array_equal(answers[i], host_answers[i])
                                 for i, (kind, _, _) in enumerate(requests) if kind == PREDICT),
            "trained_values_differing": int(sum(np.count_nonzero(params[k] != host_params[k]) for k in host_params)),
            "trained_values": int(sum(v.size for v in host_params.values())), "host_error": host_error}


def measure_board(model, scheme, board, image, label, checks, sram_budget=None) -> dict:
    """One build for `board` (if it does not fit: the overflow, then a build with the budgets
    lifted): 1 predict + the check steps on QEMU, counts, device == host."""
    from tvm_tinytrain.targets.qemu import QemuProgram, load_board, parse_size

    row = _blank_row(model, scheme, board)
    spec = load_board(board)
    row["sram_budget_bytes"], row["flash_budget_bytes"] = (parse_size(spec["ram"]["length"]),
                                                           parse_size(spec["flash"]["length"]))
    requests = [(PREDICT, 0, image)] + [(TRAIN, y, x) for x, y in checks]
    with tempfile.TemporaryDirectory(prefix="tinytrain-bench-") as tmp:
        try:
            row["scheme_resolved"] = compile_project(model, scheme, Path(tmp), sram_budget)
            memory = json.loads((Path(tmp) / "memory.json").read_text())
            row["arena_bytes"], row["memory_passes"] = memory["arena_bytes"], memory["memory_passes"]
            prog = QemuProgram(Path(tmp), board)
            row["fits"] = True
        except TinyTrainError as err:
            row["fits"] = False
            if "does not fit" not in str(err):
                row["error"] = str(err)
                return row
            row["overflow"], row["measured_unbounded"] = str(err), True
        try:
            if not row["fits"]:
                prog = QemuProgram(Path(tmp), {**spec, **UNBOUNDED[spec["name"]], "name": spec["name"] + "-unbounded"})
            answers, params, error, stack = prog.run(requests, timeout=1800)
            _fill_counts(row, prog, stack, board)
            row["device_vs_host"] = device_vs_host(Path(tmp), requests, answers, params)
        except TinyTrainError as err:
            row["error"] = ("" if row["fits"] else "measuring with the budgets lifted: ") + str(err)
            return row
        if error:
            row["error"] = f"the firmware reported tt_error() = {error}"
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
    launcher instead, the child's peak is its own.  It is cached in the private per-user cache
    (never a shared temp path another user could plant a program at) and checked before use."""
    import hashlib

    from tvm_tinytrain.user_cache import building, checked_file, private_dir

    path = private_dir("build") / f"rss_launcher_{hashlib.sha256(LAUNCHER_C.encode()).hexdigest()[:16]}"
    if not path.exists():
        with building(path) as tmp:
            result = subprocess.run(["gcc", "-O1", "-x", "c", "-", "-o", str(tmp)], input=LAUNCHER_C,
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise TinyTrainError(f"benchmark: cannot build the RSS launcher:\n{result.stderr.strip()}")
    return checked_file(path)


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


def time_host(folder: Path, image, label, repeats: int = HOST_REPEATS, trials: int = TRIALS) -> dict:
    """ms per training step / inference of the host build: (run of 1 predict + `repeats` requests)
    minus (run of 1 predict), the fastest of `trials` (robust to other load on the machine)."""
    from tvm_tinytrain.codegen.host_runner import HostProgram

    prog = HostProgram(folder)
    runs = {"base": [(PREDICT, 0, image)], "train": [(PREDICT, 0, image)] + [(TRAIN, label, image)] * repeats,
            "pred": [(PREDICT, 0, image)] * (1 + repeats)}
    seconds, rss = {k: [] for k in runs}, 0
    for _ in range(trials):
        for kind, requests in runs.items():
            t, r = run_host_exe(prog.exe, folder, prog.memory, requests)
            seconds[kind].append(t)
            rss = max(rss, r)
    base = min(seconds["base"])
    mem = prog.memory
    return {"ms_per_step": max(min(seconds["train"]) - base, 0.0) / repeats * 1e3,
            "ms_per_inference": max(min(seconds["pred"]) - base, 0.0) / repeats * 1e3,
            "rss_bytes": rss, "arena_bytes": mem["arena_bytes"], "updated_param_bytes": mem["updated_param_bytes"]}


def measure_host(model, scheme, image, label, sram_budget=None) -> dict:
    row = _blank_row(model, scheme, "host")
    with tempfile.TemporaryDirectory(prefix="tinytrain-bench-") as tmp:
        try:
            row["scheme_resolved"] = compile_project(model, scheme, Path(tmp), sram_budget)
            t = time_host(Path(tmp), image, label)
        except TinyTrainError as err:
            row["fits"], row["error"] = False, str(err)
            return row
    row.update(fits=True, ms_per_step=t["ms_per_step"], ms_per_inference=t["ms_per_inference"],
               arena_bytes=t["arena_bytes"], peak_sram_bytes=t["arena_bytes"] + t["updated_param_bytes"],
               host_rss_bytes=t["rss_bytes"])
    return row


def inference_row(rows, model, target):
    """The predict request of the paper-100kb build (else of the bias-only build)."""
    for source in ("paper-100kb", "bias-only"):
        for r in rows:
            if r["model"] == model and r["scheme"] == source and r["instructions_per_inference"] is not None:
                row = _blank_row(model, "inference", target)
                budget = " (budgets lifted: that training build does not fit)" if r["measured_unbounded"] else ""
                row.update({k: r[k] for k in ("fits", "scheme_resolved", "peak_sram_bytes", "static_ram_bytes",
                                              "stack_bytes", "flash_bytes", "sram_budget_bytes", "flash_budget_bytes",
                                              "measured_unbounded", "arena_bytes", "instructions_per_inference",
                                              "inference_latency_ms_estimate", "latency_note", "ms_per_inference")},
                           inference_from=f"predict request of the {source} build ({r['scheme_resolved']}){budget}",
                           latency_ms_estimate=r["inference_latency_ms_estimate"])
                return row
            if r["model"] == model and r["scheme"] == source and r["ms_per_inference"] is not None:
                row = _blank_row(model, "inference", target)
                row.update(fits=True, scheme_resolved=r["scheme_resolved"], ms_per_inference=r["ms_per_inference"],
                           peak_sram_bytes=r["peak_sram_bytes"], arena_bytes=r["arena_bytes"],
                           inference_from=f"predict request of the {source} build ({r['scheme_resolved']})")
                return row
    return None


RATIOS = {"instructions_per_step": "step", "instructions_per_inference": "forward", "peak_sram_bytes": "peak SRAM",
          "flash_bytes": "flash"}


def beside_tinyengine(image, label, images, progress=lambda text: None) -> list[dict]:
    """TinyEngine's demo and ours (paper-49kb MCUNet) on QEMU's M7, the same training images: one row
    per engine and FPU; ours carry `ours_over_tinyengine`, the ratios to TinyEngine built with the same FPU."""
    from benchmarks import tinyengine_peer as te
    from tvm_tinytrain.targets.qemu import load_board

    rows = te.measure(images, progress=progress)
    for board, engine in OURS_BUILDS.items():
        progress(f"ours {te.SCHEME} on {board}")
        r = measure_board(te.MODEL, te.SCHEME, board, image, label, images)
        fpu = next(f for f in load_board(board)["cflags"] if f.startswith("-mfpu="))
        peer = next(t for t in rows if t["flags"].endswith(fpu))
        row = {"engine": engine, "model": te.MODEL, "scheme": te.SCHEME, "target": board, "flags": fpu,
               "measured": r["instructions_per_step"] is not None, "reason": r["error"],
               **{k: r[k] for k in (*te.FIGURES, "static_ram_bytes", "stack_bytes", "instructions_per_step_range",
                                    "scheme_resolved", "device_vs_host")},
               "inference_from": "predict request on the CIFAR-10 test image"}
        if row["measured"] and peer["measured"]:
            row["ours_over_tinyengine"] = {"vs": peer["engine"], **{k: row[k] / peer[k] for k in RATIOS}}
        rows.append(row)
    return rows


def tinyengine_markdown(rows) -> str:
    lines = ["| engine | M instr / step | M instr / forward | peak SRAM (KB) | flash (KB) | ours / TinyEngine: "
             + " / ".join(RATIOS.values()) + " |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if not r["measured"]:
            lines.append(f"| {r['engine']} | not measured: {(r['reason'] or '').splitlines()[0]} | | | | |")
            continue
        ratio = r.get("ours_over_tinyengine")
        ratio = " / ".join(f"{ratio[k]:.2f}" for k in RATIOS) if ratio else ""
        lines.append(f"| {r['engine']} | {_m(r['instructions_per_step'])} | {_m(r['instructions_per_inference'])} | "
                     f"{_kb(r['peak_sram_bytes'])} | {_kb(r['flash_bytes'])} | {ratio} |")
    return "\n".join(lines)


# -- reporting ------------------------------------------------------------------------------
def _kb(n):
    return "" if n is None else f"{n / 1024:.1f}"


def _m(n):
    return "" if n is None else f"{n / 1e6:.1f}"


def _f(v, fmt="{:.0f}"):
    return "" if v is None else fmt.format(v)


def _scheme_name(r) -> str:
    resolved = r["scheme_resolved"]
    return r["scheme"] + (f" ({resolved})" if resolved and resolved != r["scheme"] and r["scheme"] != "inference" else "")


def _fits(r) -> str:
    if r["fits"]:
        return "yes"
    if not r["measured_unbounded"]:
        return "NO"
    over = [f"{what} +{(need - budget) / 1024:.0f} KB" for what, need, budget in
            (("SRAM", r["peak_sram_bytes"], r["sram_budget_bytes"]), ("flash", r["flash_bytes"], r["flash_budget_bytes"]))
            if need and budget and need > budget]
    return "NO (" + ", ".join(over) + ")" if over else "NO"


def _check(r) -> str:
    c = r["device_vs_host"]
    if not c:
        return ""
    losses = ("bit-exact" if c["bit_exact"] else ("" if c["within_1e-5"] else "NO: ") + f"max rel {c['max_rel_diff']:.1e}")
    losses += f" ({c['steps']} steps)"
    return losses + ("" if c["trained_values_differing"] == 0 else f", {c['trained_values_differing']} values differ")


def markdown(rows, target) -> str:
    if target == "host":
        lines = ["| model | scheme | ms / step | ms / inference | arena + trained params (KB) | paper peak (KB) | paper ms (M7) |",
                 "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(f"| {r['model']} | {_scheme_name(r)} | {_f(r['ms_per_step'], '{:.1f}')} | "
                         f"{_f(r['ms_per_inference'], '{:.1f}')} | {_kb(r['peak_sram_bytes'])} | "
                         f"{_f(r['paper_peak_kb'])} | {_f(r['paper_latency_ms'])} |")
    else:
        lines = ["| model | scheme | fits | peak SRAM (KB) | flash (KB) | M instr / step | M instr / inference | "
                 "est. ms / step | device == host | paper peak (KB) | paper M cycles / step | paper ms |",
                 "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for r in rows:
            step_ms = r["inference_latency_ms_estimate"] if r["scheme"] == "inference" else r["latency_ms_estimate"]
            lines.append(f"| {r['model']} | {_scheme_name(r)} | {_fits(r)} | {_kb(r['peak_sram_bytes'])} | "
                         f"{_kb(r['flash_bytes'])} | {_m(r['instructions_per_step'])} | "
                         f"{_m(r['instructions_per_inference'])} | {_f(step_ms)} | {_check(r)} | "
                         f"{_f(r['paper_peak_kb'])} | {_m(r['paper_cycles'])} | {_f(r['paper_latency_ms'])} |")
    notes = []
    for r in rows:
        if r.get("inference_from"):
            notes.append(f"- {r['model']} inference: {r['inference_from']}")
        if r["overflow"]:
            why = r["overflow"].split(f"does not fit board {r['target']}: ", 1)[-1]
            notes.append(f"- {r['model']} {r['scheme']} does not fit {r['target']}: {why}")
        if r["error"]:
            notes.append(f"- {r['model']} {r['scheme']} error: {r['error'].splitlines()[0]}")
    return "\n".join(lines + ([""] + notes if notes else []))


def plot(rows, target, path: Path):
    """Peak SRAM and the training step per model and scheme, with the paper's figures dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in BACKBONES if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    schemes = [s for s in ("inference", *SCHEMES) if any(r["scheme"] == s for r in rows)]
    schemes += [s for s in dict.fromkeys(r["scheme"] for r in rows) if s not in schemes]
    width = 0.8 / max(len(schemes), 1)
    for j, scheme in enumerate(schemes):
        xs, ys, ts, over = [], [], [], []
        for i, m in enumerate(models):
            r = next((r for r in rows if r["model"] == m and r["scheme"] == scheme), None)
            if r is None:
                continue
            xs.append(i + (j - (len(schemes) - 1) / 2) * width)
            ys.append((r["peak_sram_bytes"] or 0) / 1024)
            ts.append((r["ms_per_step"] if target == "host" else (r["instructions_per_step"] or 0) / 1e6) or 0)
            over.append(not r["fits"])
        bars = axes[0].bar(xs, ys, width, label=scheme, color=f"C{j}")
        for bar, o in zip(bars, over):
            bar.set_hatch("//" if o else "")
        if scheme != "inference":
            axes[1].bar(xs, ts, width, label=scheme, color=f"C{j}")
    budget = next((r["sram_budget_bytes"] for r in rows if r["sram_budget_bytes"]), None)
    if budget:
        axes[0].axhline(budget / 1024, color="r", lw=1, label=f"SRAM budget {budget // 1024} KB")
    for i, m in enumerate(models):
        axes[0].hlines(PAPER[m]["peak_kb"], i - 0.45, i + 0.45, colors="k", linestyles="--",
                       label="paper peak (sparse + reorder)" if i == 0 else None)
        if target != "host":
            axes[1].hlines(PAPER[m]["cycles"] / 1e6, i - 0.45, i + 0.45, colors="k", linestyles="--",
                           label="paper M cycles / step (216 MHz M7)" if i == 0 else None)
    for ax in axes:
        ax.set_xticks(range(len(models)), models)
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    axes[0].set_ylabel("peak SRAM (KB)" if target != "host" else "arena + trained params (KB)")
    axes[0].set_title(f"peak SRAM, {target} (hatched: does not fit; measured with budgets lifted)")
    axes[1].set_ylabel("ms / training step (host)" if target == "host" else "M instructions / training step")
    axes[1].set_title("training step: ours (instructions) vs the paper (cycles)" if target != "host"
                      else "training step on this host")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def check_out(out: Path):
    """Refuse to replace output files in `out` that a previous benchmarks.run did not write."""
    clash = [f for f in OUTPUT_FILES if (out / f).exists()]
    if not clash:
        return
    try:
        previous = json.loads((out / "summary.json").read_text())
        ours = isinstance(previous, dict) and {"target", "rows", "paper"} <= set(previous)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise TinyTrainError(f"benchmarks.run: {out} already holds {', '.join(clash)}, not written by a previous "
                             f"benchmarks.run; choose another --out or move those files")


def source_version() -> dict:
    """The commit measured, and how many tracked files of the library differ from it."""
    root = Path(__file__).resolve().parent.parent
    git = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True).stdout.strip()
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "codegen", "passes", "tvm_tinytrain").splitlines()
    return {"commit": git("rev-parse", "HEAD") or None, "uncommitted_changes": len(changed)}


def main(argv=None):
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, choices=TARGETS)
    parser.add_argument("--out", default=None, help="output folder (default out/benchmarks/<target>)")
    parser.add_argument("--quick", action="store_true",
                        help=f"paper-100kb only, {QUICK_CHECK_STEPS} check steps, peers for MCUNet only")
    parser.add_argument("--models", nargs="+", default=None, choices=BACKBONES)
    parser.add_argument("--schemes", nargs="+", default=None, help=f"from {', '.join(SCHEMES)} (or any scheme spec)")
    parser.add_argument("--check-steps", type=int, default=None,
                        help=f"training steps on CIFAR-10 images compared with the host build "
                             f"(default {CHECK_STEPS}, --quick {QUICK_CHECK_STEPS})")
    parser.add_argument("--no-peers", action="store_true", help="skip benchmarks.peers (PyTorch, TVM relax.training)")
    parser.add_argument("--no-tinyengine", action="store_true",
                        help="cortex-m7: skip TinyEngine and ours on its demo (paper-49kb MCUNet, benchmarks.tinyengine_peer)")
    parser.add_argument("--sram-budget", default=None,
                        help="the compiler's SRAM budget, e.g. 150K: memory passes that cost instructions are applied "
                             "only where it needs them (default none: off)")
    args = parser.parse_args(argv)
    t0 = time.time()
    from tvm_tinytrain.targets.qemu import parse_size

    budget = parse_size(args.sram_budget) if args.sram_budget else None
    out = Path(args.out or f"out/benchmarks/{args.target}")
    check_out(out)
    models = args.models or list(BACKBONES)
    schemes = args.schemes or list(QUICK_SCHEMES if args.quick else SCHEMES)
    n_check = args.check_steps if args.check_steps is not None else (QUICK_CHECK_STEPS if args.quick else CHECK_STEPS)
    if n_check < 1:
        raise TinyTrainError(f"benchmarks.run: --check-steps must be at least 1, got {n_check}")
    version = source_version()
    image, label = sample_image()
    checks = training_images(n_check) if args.target != "host" else []
    peer_models = [] if args.no_peers else (["mcunet-5fps"] if args.quick else models)
    tinyengine = args.target == "cortex-m7" and not args.no_tinyengine
    from benchmarks import peers as peers_mod
    from benchmarks import tinyengine_peer

    bar = tqdm(total=len(models) * len(schemes) + len(peer_models) * (1 + len(peers_mod.PEERS))
               + tinyengine * (len(tinyengine_peer.VARIANTS) + len(OURS_BUILDS)),
               desc="benchmark", unit="job", file=sys.stderr)
    rows = []
    for model in models:
        mine = []
        for scheme in schemes:
            bar.set_postfix_str(f"{model} {scheme}")
            t = time.time()
            row = (measure_host(model, scheme, image, label, budget) if args.target == "host"
                   else measure_board(model, scheme, args.target, image, label, checks, budget))
            row["seconds"] = round(time.time() - t, 1)
            bar.write(f"  {model} {scheme}: fits={row['fits']} ({row['seconds']} s)"
                      + (f" error: {row['error'].splitlines()[0]}" if row["error"] else ""))
            bar.update()
            mine.append(row)
        inf = inference_row(mine, model, args.target)
        rows += ([inf] if inf else []) + mine

    def step(text):
        if step.started:
            bar.update()
        step.started = True
        bar.set_postfix_str(text)

    step.started = False
    peers = peers_mod.run_peers(peer_models, ["paper-100kb"], progress=step) if peer_models else None
    te_rows = (beside_tinyengine(image, label, training_images(TINYENGINE_IMAGES), progress=step)
               if tinyengine else None)
    if step.started:
        bar.update()
    bar.close()

    note = latency_note(args.target)
    header = (f"target {args.target}; measured at commit {(version['commit'] or 'unknown')[:12]}"
              + (f" with {version['uncommitted_changes']} uncommitted files" if version["uncommitted_changes"] else "")
              + f"; predict on one CIFAR-10 test image (label {label}), "
              + (f"{n_check} training steps on CIFAR-10 training images, all resized to 128x128; instructions counted "
                 f"by QEMU (mean per step); est. ms: {note}; device == host: the loss sequence of those steps "
                 f"on QEMU vs the host build of the same C"
                 if args.target != "host" else "the same C built with gcc -O3 -march=native for this host, wall time")
              + f".\n{PAPER_LINE}.")
    text = header + "\n\n" + markdown(rows, args.target)
    if te_rows is not None:
        text += (f"\n\n## Beside TinyEngine (its demo: mcunet-5fps, paper-49kb, on {args.target})\n\n"
                 f"{TINYENGINE_IMAGES} CIFAR-10 training images: per step = mean of one training step each; forward = "
                 f"TinyEngine's invoke_inf() on each (mean), our predict request on the test image; ratios ours / "
                 f"TinyEngine built with the same FPU; KB = 1024 bytes.\n\n" + tinyengine_markdown(te_rows))
    if peers is not None:
        text += "\n\n## Peers on this host\n\n" + peers_mod.markdown(peers)
    seconds = time.time() - t0
    text += f"\n\nrun time {seconds:.0f} s\n"
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"target": args.target, "latency_note": note, "clock_hz": CLOCK_HZ.get(args.target, (None,))[0],
               **version, "image_label": label, "check_steps": n_check if args.target != "host" else None,
               "paper": PAPER, "rows": rows, "peers": peers, "tinyengine": te_rows, "seconds": round(seconds, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    (out / "results.md").write_text(text)
    plot(rows, args.target, out / "benchmark.png")
    written = ["summary.json", "results.md", "benchmark.png"]
    if peers:
        peers_mod.plot(peers, out / "peers.png")
        written.append("peers.png")
    print(f"wrote {', '.join(str(out / f) for f in written)}")
    return summary


if __name__ == "__main__":
    main()
