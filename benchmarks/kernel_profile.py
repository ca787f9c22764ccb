"""Where the instructions of a training step and an inference go, per kernel call, on a Cortex-M board.

The generated project of a backbone and scheme is built into firmware like benchmarks.run does
(tvm_tinytrain.targets.qemu.QemuProgram, budgets lifted as benchmarks.run does for a build that
does not fit), with two changes made only for this measurement:

- model.c's TT_CALL macro also reads the instruction counter (tt_instructions(), startup.c) before
  and after each kernel call and adds the difference to a table keyed by the call's line;
- the firmware's main is the small one below: 1 predict + 1 training step on a fixed image
  (the input is embedded in flash), then the table is printed on QEMU's stderr (semihosting).

The line of each call is mapped back to its layer and kernel (the comment the emitter puts above
it); conv2d_s8 calls are split into the kernel the dispatcher picks (1x1 / depthwise / general).

    python -m benchmarks.kernel_profile [--model mcunet-5fps] [--scheme paper-100kb]
                                        [--board cortex-m7] [--top 25] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tvm_tinytrain.targets.qemu import QemuProgram

PROFILE_MAIN = r"""
/* kernel_profile.py: 1 predict + 1 training step, then the per-call instruction table. */
#include <stdint.h>
#include "model.h"
#include "semihost.h"
#include "tt_profile_input.h"

typedef struct { uint32_t line; uint32_t calls; uint64_t total; } tt_prof_entry;
static tt_prof_entry tt_prof[1024];
static uint32_t tt_prof_n, tt_prof_last;

void tt_prof_add(uint32_t line, uint64_t n)
{
    uint32_t i = tt_prof_last;
    if (i >= tt_prof_n || tt_prof[i].line != line) {
        for (i = 0; i < tt_prof_n && tt_prof[i].line != line; i++) {
        }
        if (i == tt_prof_n) {
            if (tt_prof_n == sizeof tt_prof / sizeof tt_prof[0]) return;
            tt_prof[tt_prof_n].line = line;
            tt_prof[tt_prof_n].calls = 0;
            tt_prof[tt_prof_n++].total = 0;
        }
    }
    tt_prof[i].calls++;
    tt_prof[i].total += n;
    tt_prof_last = i + 1;
}

uint64_t tt_instructions(void);

static void put(const char *s) { tt_semihost(TT_SYS_WRITE0, s); }
static void put_u(uint64_t v)
{
    char buf[24], *p = buf + sizeof buf - 1;
    *p = 0;
    do *--p = (char)('0' + v % 10); while (v /= 10);
    put(p);
}

static void dump(const char *what, uint64_t total)
{
    put("TTPROF total "); put(what); put(" "); put_u(total); put("\n");
    for (uint32_t i = 0; i < tt_prof_n; i++) {
        put("TTPROF "); put(what); put(" "); put_u(tt_prof[i].line); put(" "); put_u(tt_prof[i].calls);
        put(" "); put_u(tt_prof[i].total); put("\n");
    }
    tt_prof_n = tt_prof_last = 0;
}

int main(void)
{
    TT_LOGITS_TYPE logits[TT_NUM_CLASSES];
    /* SysTick starts from 0 and reloads on its first tick: a read before that would say 2^24 ticks */
    while (*(volatile uint32_t *)0xE000E018u == 0u) {
    }
    uint64_t t0 = tt_instructions();
    tt_predict(tt_profile_input, logits);
    dump("predict", tt_instructions() - t0);
    t0 = tt_instructions();
    (void)tt_train_step(tt_profile_input, TT_PROFILE_LABEL);
    dump("train", tt_instructions() - t0);
    return tt_error() == 0 ? 0 : 1;
}
"""

# The emulated boards' whole memories (QEMU mps2 SSRAM1 / SSRAM2+3, mps3-an547), so that a build over
# the real budget still runs here.
LIFTED = {name: {"flash": {"origin": flash, "length": flash_len}, "ram": {"origin": ram, "length": "4M"}}
          for name, flash, flash_len, ram in (("cortex-m7", "0x00000000", "4M", "0x20000000"),
                                              ("cortex-m4", "0x00000000", "4M", "0x20000000"),
                                              ("cortex-m55", "0x01000000", "2M", "0x21000000"))}
_CALL_MACRO = re.compile(r"^#define TT_CALL\(call\) .*$", re.M)
PROFILED_CALL = ("#define TT_CALL(call) do { uint64_t tt_instructions(void); "  # one line: keeps the line numbers
                 "void tt_prof_add(uint32_t line, uint64_t n); uint64_t tt_t0_ = tt_instructions(); int tt_rc_ = (call); "
                 "tt_prof_add(__LINE__, tt_instructions() - tt_t0_); "
                 "if (tt_rc_ != TT_OK && tt_error_line == 0) tt_error_line = __LINE__; } while (0)")
_COMMENT = re.compile(r"/\* (\S+): (\w+) \*/")
_KERNEL = re.compile(r"TT_CALL\((tt_\w+)\(")


class ProfiledProgram(QemuProgram):
    """QemuProgram with the profiling main instead of the request/answer firmware main."""

    def sources(self):
        return [p for p in super().sources() if p.name != "device_main.c"] + [self.dir / "tt_profile_main.c"]


def conv_kind(line: str) -> str:
    """Which kernel tt_conv2d_s8 dispatches to, from the generated call's literal arguments."""
    p = re.search(r"tt_conv_params p = \{([^}]*)\}", line)
    groups = int(p.group(1).split(",")[5]) if p else 1
    dims = [tuple(map(int, d.split(","))) for d in re.findall(r"\(tt_dims\)\{([^}]*)\}", line)]
    kh_kw = re.search(r"tt_p_\w+_weight, (\d+), (\d+),", line)
    kh, kw = (int(kh_kw.group(1)), int(kh_kw.group(2))) if kh_kw else (1, 1)
    if kh == 1 and kw == 1 and groups == 1:
        stride = int(p.group(1).split(",")[0]) if p else 1
        return "conv2d_1x1_s8" + ("" if stride == 1 else f" (stride {stride})")
    if len(dims) == 2 and groups == dims[0][0] == dims[1][0]:
        stride = int(p.group(1).split(",")[0]) if p else 1
        return f"depthwise_conv2d_s8 {kh}x{kw} s{stride}"
    return f"conv2d_general_s8 {kh}x{kw}"


def call_sites(model_c: str) -> dict[int, dict]:
    """line number -> {layer, op, kernel, text} for every TT_CALL in model.c."""
    sites, comment = {}, ("?", "?")
    for number, line in enumerate(model_c.splitlines(), start=1):
        c = _COMMENT.search(line)
        if c and "TT_CALL" not in line:
            comment = (c.group(1), c.group(2))
        k = _KERNEL.search(line)
        if k:
            kernel = k.group(1)[3:]
            if kernel in ("conv2d_s8",):
                kernel = conv_kind(line)
            elif kernel == "conv2d_grad_input_f32" or kernel == "conv2d_grad_weight_f32":
                kernel += " " + conv_grad_kind(line, kernel)
            sites[number] = dict(layer=comment[0], op=comment[1], kernel=kernel, text=line.strip())
    return sites


def conv_grad_kind(line: str, kernel: str) -> str:
    p = re.search(r"tt_conv_params p = \{([^}]*)\}", line)
    groups = int(p.group(1).split(",")[5]) if p else 1
    ks = re.findall(r"\}, (?:tt_p_\w+_weight, )?(\d+), (\d+),", line)
    kh = ks[0] if ks else ("?", "?")
    return f"{kh[0]}x{kh[1]}" + (" dw" if groups > 1 else "")


def profile(model: str, scheme: str, board: str, workdir: Path) -> dict:
    from benchmarks.run import compile_project, sample_image

    resolved = compile_project(model, scheme, workdir)
    model_c = (workdir / "model.c").read_text()
    sites = call_sites(model_c)
    new_c, n = _CALL_MACRO.subn(lambda _m: PROFILED_CALL, model_c)
    if n != 1:
        raise SystemExit("kernel_profile: TT_CALL macro not found in model.c (did the emitter change?)")
    (workdir / "model.c").write_text(new_c)
    image, label = sample_image()
    values = ",".join(str(int(v)) for v in image.reshape(-1))
    (workdir / "tt_profile_input.h").write_text(
        f"static const int8_t tt_profile_input[TT_INPUT_BYTES] = {{{values}}};\n"
        f"#define TT_PROFILE_LABEL {label}\n")
    (workdir / "tt_profile_main.c").write_text(PROFILE_MAIN)
    from tvm_tinytrain.targets.qemu import load_board

    spec = load_board(board)  # budgets lifted: the instructions do not depend on them
    prog = ProfiledProgram(workdir, {**spec, **LIFTED.get(spec["name"], {}), "name": spec["name"]})
    run = subprocess.run(prog.command(), cwd=workdir, capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        raise SystemExit(f"kernel_profile: firmware exited with {run.returncode}\n{run.stderr[-2000:]}")
    result = {"model": model, "scheme": resolved, "board": board, "totals": {}, "calls": []}
    for line in (run.stdout + run.stderr).splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "TTPROF" and f[1] == "total":
            result["totals"][f[2]] = int(f[3])
        elif len(f) == 5 and f[0] == "TTPROF":
            site = sites.get(int(f[2]), dict(layer="?", op="?", kernel="?"))
            result["calls"].append(dict(request=f[1], line=int(f[2]), calls=int(f[3]), instructions=int(f[4]),
                                        layer=site["layer"], op=site["op"], kernel=site["kernel"]))
    return result


def report(result: dict, top: int) -> str:
    out = [f"{result['model']} {result['scheme']} on {result['board']}: "
           + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in result["totals"].items())]
    for request in result["totals"]:
        calls = [c for c in result["calls"] if c["request"] == request]
        total = result["totals"][request]
        by_kernel = defaultdict(lambda: [0, 0])
        for c in calls:
            by_kernel[c["kernel"]][0] += c["instructions"]
            by_kernel[c["kernel"]][1] += c["calls"]
        covered = sum(c["instructions"] for c in calls)
        out.append(f"\n== {request}: {total / 1e6:.2f} M instructions "
                   f"(kernel calls {covered / 1e6:.2f} M, rest {(total - covered) / 1e6:.2f} M)")
        out.append(f"{'kernel':44} {'calls':>5} {'M instr':>9} {'share':>6}")
        for kernel, (n, k) in sorted(by_kernel.items(), key=lambda kv: -kv[1][0]):
            out.append(f"{kernel:44} {k:5d} {n / 1e6:9.2f} {100 * n / total:5.1f}%")
        out.append(f"\n-- top {top} calls ({request})")
        for c in sorted(calls, key=lambda c: -c["instructions"])[:top]:
            out.append(f"{c['layer'] + ' ' + c['op']:44} {c['kernel']:36} {c['instructions'] / 1e6:8.2f} M")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mcunet-5fps")
    ap.add_argument("--scheme", default="paper-100kb")
    ap.add_argument("--board", default="cortex-m7")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = profile(args.model, args.scheme, args.board, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="tinytrain-profile-") as tmp:
            result = profile(args.model, args.scheme, args.board, Path(tmp))
    print(report(result, args.top))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
