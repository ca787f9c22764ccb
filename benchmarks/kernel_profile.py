"""Where the instructions of a training step and an inference go, per kernel call, on a Cortex-M board.

The generated project of a backbone and scheme is built into firmware like benchmarks.run does
(tvm_tinytrain.targets.qemu.QemuProgram, budgets lifted as benchmarks.run does for a build that
does not fit), with two changes made only for this measurement:

- model.c's TT_CALL macro also reads the instruction counter (tt_instructions(), startup.c) before
  and after each kernel call and adds the difference to a table keyed by the call's line;
- the firmware's main is the small one below: 1 predict + 1 training step on a fixed image
  (the input is embedded in flash), then the table is printed on QEMU's stderr (semihosting).

The line of each call is mapped back to its layer and kernel (the comment the emitter puts above
it); conv2d_s8 calls are split into the kernel the dispatcher picks (1x1 / depthwise / general). Each
call's multiply-accumulates follow from its arguments, read by position, so each kernel class gets
instructions per MAC and their ratio to the arithmetic floor (int8: 0.5, two per SMLAD; float: 1, one
VMLA).

    python -m benchmarks.kernel_profile [--model mcunet-5fps] [--scheme paper-100kb]
                                        [--board cortex-m7] [--sram-budget 150K] [--top 25] [--json out.json]
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
_ROW_LOOP = re.compile(r"for \(int32_t o = (?:0|c0); o < (\d+|c0 \+ k); o \+= \d+\)")  # in a chunk: its k rows
_CHUNK_LOOP = re.compile(r"for \(int32_t c0 = 0; c0 < (\d+); c0 \+= \d+\)")  # chunk_depthwise_grad's k channels
_COL_LOOP = re.compile(r"for \(int32_t c = 0; c < (\d+); c \+= \d+\)")  # a grad_update's columns, m a call


class ProfiledProgram(QemuProgram):
    """QemuProgram with the profiling main instead of the request/answer firmware main."""

    def sources(self):
        return [p for p in super().sources() if p.name != "device_main.c"] + [self.dir / "tt_profile_main.c"]


def call_args(line: str, start: int) -> list[str]:
    """The top-level arguments of the call whose '(' is at line[start - 1]: split by position, not by
    what the arguments are named (a user's parameter names are mangled and hashed, and a split or
    per-channel weight is an expression)."""
    args, depth, cur = [], 0, []
    for ch in line[start:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    return args + ["".join(cur).strip()]


def _ints(text: str, n: dict) -> list[int]:
    """The comma-separated values of a C initializer, `n` (a row block) resolved from `n`."""
    return [int(v) if re.fullmatch(r"-?\d+", v) else n[v] for v in (t.strip() for t in text.split(","))]


def _dims(arg: str, n: dict) -> list[int]:
    return _ints(re.fullmatch(r"\(tt_dims\)\{([^}]*)\}", arg).group(1), n)


def _groups(line: str, n: dict) -> int:
    p = re.search(r"tt_conv_params p = \{([^}]*)\}", line)
    return _ints(p.group(1), n)[5] if p else 1


def _layer(line: str, name: str, n: dict) -> tuple[int, int, int]:
    """(kh, kw, groups) of a fused kernel's `tt_conv_layer <name> = {w, kh, kw, ..., {conv}, {quant}}`."""
    body = re.search(r"tt_conv_layer " + name + r" = \{(.*?)\}(?:, \w+)?\};", line).group(1)  # (, its table)
    top = call_args(body + ")", 0)
    return int(top[1]), int(top[2]), _ints(top[6].strip("{}"), n)[5]


def _rows_block_macs(in_dims, mid, out, line: str, suffix: str, n: dict) -> int:
    """Multiply-accumulates of a fused row block (its layers a, b, c named with `suffix` in the call's line)."""
    (ci, _, _), (cm, mh, mw), (co, oh, ow) = in_dims, mid, out
    (kha, kwa, ga), (khb, kwb, _) = _layer(line, "a" + suffix, n), _layer(line, "b" + suffix, n)
    return cm * mh * mw * kha * kwa * ci // ga + cm * oh * ow * khb * kwb + co * oh * ow * cm


def macs(kernel: str, a: list[str], line: str, n: dict) -> int:
    """Multiply-accumulates of one call (0 for the elementwise kernels)."""
    d = lambda i: _dims(a[i], n)  # noqa: E731
    if kernel == "conv2d_s8":
        (ci, _, _), (co, oh, ow) = d(1), d(-1)
        return co * oh * ow * _ints(a[3], n)[0] * _ints(a[4], n)[0] * ci // _groups(line, n)
    if kernel in ("conv2d_1x1_s8", "conv2d_1x1_split_s8"):
        (ci, _, _), (co, oh, ow) = d(1), d(-1)
        return co * oh * ow * ci
    if kernel == "depthwise_conv2d_s8":
        co, oh, ow = d(-1)
        return co * oh * ow * _ints(a[3], n)[0] * _ints(a[4], n)[0]
    if kernel in ("conv_dw_pw_rows_s8", "conv_dw_pw_stream_s8", "conv_dw_pw_rows_add_s8"):  # the same dims' places
        return _rows_block_macs(d(1), d(3), d(7), line, "", n)
    if kernel == "conv_dw_pw_chain_s8":  # (rows, in, a0, mid0, b0, c0, out0, a1, mid1, b1, c1, y, out1, scratch)
        return _rows_block_macs(d(1), d(3), d(6), line, "0", n) + _rows_block_macs(d(6), d(8), d(12), line, "1", n)
    if kernel == "conv2d_grad_input_f32":
        (co, oh, ow), (ci, _, _) = d(1), d(-1)
        return co * oh * ow * _ints(a[3], n)[0] * _ints(a[4], n)[0] * ci // _groups(line, n)
    if kernel == "conv2d_1x1_grad_input_split_f32":
        (co, oh, ow), (ci, _, _) = d(1), d(-1)
        return co * oh * ow * ci
    if kernel == "conv2d_1x1_grad_input_rows_f32":  # (g, c0, k, hw, w, w_scale, c_out, out)
        return _ints(a[2], n)[0] * _ints(a[3], n)[0] * _ints(a[6], n)[0]
    if kernel == "conv2d_1x1_grad_input_split_rows_f32":  # (g, c0, k, hw, lead, rest, lead_k, w_scale, c_out, out)
        return _ints(a[2], n)[0] * _ints(a[3], n)[0] * _ints(a[8], n)[0]
    if kernel == "conv2d_1x1_grad_input_channels_f32":  # (d, out_c, hw, w, w_scale, c0, k, channels, dx)
        return _ints(a[1], n)[0] * _ints(a[2], n)[0] * _ints(a[6], n)[0]
    if kernel == "conv2d_grad_weight_f32":
        (k, _, _), (co, oh, ow) = d(1), d(5)
        taps = oh * ow * _ints(a[6], n)[0] * _ints(a[7], n)[0]
        return (k * (co // _groups(line, n)) if _ints(a[9], n)[0] else co * k) * taps
    if kernel in ("linear_s8", "linear_f32"):
        return _ints(a[1], n)[0] * _ints(a[6], n)[0]
    if kernel in ("linear_grad_input_f32", "linear_f32_grad_input"):
        return _ints(a[1], n)[0] * _ints(a[4], n)[0]
    if kernel == "linear_grad_weight_f32":
        return _ints(a[1], n)[0] * _ints(a[5], n)[0]
    if kernel == "linear_f32_grad_weight":
        return _ints(a[1], n)[0] * _ints(a[5], n)[0]
    return 0


def kernel_class(kernel: str, a: list[str], line: str, n: dict) -> str:
    """The kernel a call runs, from its arguments by position: conv2d_s8 split into the kernel its
    dispatcher picks (1x1 / depthwise / general), the depthwise conv and the conv gradients by kernel
    size and stride ("dw": depthwise, also a one-channel call of the memory passes' loops)."""
    conv = re.search(r"tt_conv_params p = \{([^}]*)\}", line)
    stride = _ints(conv.group(1), n)[0] if conv else 1
    if kernel in ("conv2d_s8", "depthwise_conv2d_s8", "conv2d_grad_input_f32"):
        kh, kw = _ints(a[3], n)[0], _ints(a[4], n)[0]
        (c0, _, _), (c1, _, _) = _dims(a[1], n), _dims(a[-1], n)
        dw = _groups(line, n) == c0 == c1 and kh * kw > 1
        if kernel == "conv2d_grad_input_f32":
            return f"{kernel} {kh}x{kw}{' dw' if dw else ''} s{stride}"
        if kh == kw == 1 and _groups(line, n) == 1:
            return "conv2d_1x1_s8" + ("" if stride == 1 else f" (stride {stride})")
        return f"depthwise_conv2d_s8 {kh}x{kw} s{stride}" if dw or kernel != "conv2d_s8" else \
            f"conv2d_general_s8 {kh}x{kw}"
    if kernel == "conv2d_grad_weight_f32":
        return f"{kernel} {a[6]}x{a[7]}" + (" dw" if _ints(a[9], n)[0] else "")
    return kernel


def call_sites(model_c: str) -> dict[int, dict]:
    """line number -> {layer, op, kernel, macs, per_call, text} for every TT_CALL in model.c. Inside a
    grad_update loop over row blocks of `n` rows (and column blocks of `m`) or chunk_depthwise_grad's loop
    over chunks of `k` channels, a call that names n, m or k has the `macs` of all its calls (n = all rows,
    m = all columns, k = all channels) and `per_call` False; otherwise `macs` are one call's."""
    sites, comment, rows, cols, chunk, above = {}, ("?", "?"), None, None, None, ""
    for number, line in enumerate(model_c.splitlines(), start=1):
        c = _COMMENT.search(line)
        if c and "TT_CALL" not in line:
            comment, rows, cols, chunk, above = (c.group(1), c.group(2)), None, None, None, ""
        if ("tt_conv_layer " in line or "tt_conv_params p" in line) and "TT_CALL" not in line:
            above = (above if "tt_conv_layer " in line else "") + line  # a call's parameters, a line above it
        loop, col_loop, chunk_loop = _ROW_LOOP.search(line), _COL_LOOP.search(line), _CHUNK_LOOP.search(line)
        if chunk_loop:
            chunk = int(chunk_loop.group(1))
        if loop:
            rows = chunk if loop.group(1) == "c0 + k" else int(loop.group(1))
        if col_loop:
            cols = int(col_loop.group(1))
        k = _KERNEL.search(line)
        if k:
            kernel, args = k.group(1)[3:], call_args(line, k.end())
            if kernel == "depthwise_grad_input_inplace_f32":  # conv2d_grad_input_f32's arguments, then scratch
                kernel, args = "conv2d_grad_input_f32", args[:-1]
            if kernel == "depthwise_inplace_s8":  # tt_depthwise_conv2d_s8's arguments, then scratch
                kernel, args = "depthwise_conv2d_s8", args[:-1]
            n = {v: size for v, size in (("n", rows), ("m", cols), ("k", chunk)) if size is not None}
            per_call = not any(re.search(rf"\b{v}\b", line) for v in n)
            context = line if "tt_conv_params p" in line else above + line
            sites[number] = dict(layer=comment[0], op=comment[1], kernel=kernel_class(kernel, args, context, n),
                                 macs=macs(kernel, args, context, n), per_call=per_call, text=line.strip())
            above = ""
    return sites


def profile(model: str, scheme: str, board: str, workdir: Path, sram_budget: int | None = None) -> dict:
    """`sram_budget`: the compiler's, as benchmarks.run's --sram-budget (None: the memory passes that cost
    instructions are off)."""
    from benchmarks.run import compile_project, sample_image

    resolved = compile_project(model, scheme, workdir, sram_budget)
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
            site = sites.get(int(f[2]), dict(layer="?", op="?", kernel="?", macs=0, per_call=True))
            calls = int(f[3])
            result["calls"].append(dict(request=f[1], line=int(f[2]), calls=calls, instructions=int(f[4]),
                                        macs=site["macs"] * (calls if site["per_call"] else 1),
                                        layer=site["layer"], op=site["op"], kernel=site["kernel"]))
    return result


# The arithmetic floor in instructions per MAC: int8 at two per SMLAD, float at one per VMLA.
FLOOR = {"s8": 0.5, "f32": 1.0}


def floor_per_mac(kernel: str) -> float:
    return FLOOR["f32" if "_f32" in kernel.split()[0] else "s8"]


def by_kernel(result: dict, request: str) -> list[dict]:
    """One row per kernel class: calls, instructions, MACs, instructions per MAC and its ratio to the
    floor, largest first."""
    rows = defaultdict(lambda: dict(calls=0, instructions=0, macs=0))
    for c in result["calls"]:
        if c["request"] == request:
            r = rows[c["kernel"]]
            r["calls"] += c["calls"]
            r["instructions"] += c["instructions"]
            r["macs"] += c.get("macs", 0)
    out = []
    for kernel, r in sorted(rows.items(), key=lambda kv: -kv[1]["instructions"]):
        per_mac = r["instructions"] / r["macs"] if r["macs"] else None
        out.append(dict(kernel=kernel, **r, per_mac=per_mac,
                        to_floor=per_mac / floor_per_mac(kernel) if per_mac else None))
    return out


def report(result: dict, top: int) -> str:
    out = [f"{result['model']} {result['scheme']} on {result['board']}: "
           + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in result["totals"].items())]
    for request in result["totals"]:
        calls = [c for c in result["calls"] if c["request"] == request]
        total = result["totals"][request]
        covered = sum(c["instructions"] for c in calls)
        out.append(f"\n== {request}: {total / 1e6:.2f} M instructions "
                   f"(kernel calls {covered / 1e6:.2f} M, rest {(total - covered) / 1e6:.2f} M)")
        out.append(f"{'kernel':44} {'calls':>5} {'M instr':>9} {'share':>6} {'M MACs':>8} {'instr/MAC':>9} "
                   f"{'x floor':>7}")
        for r in by_kernel(result, request):
            mac = (f"{r['macs'] / 1e6:8.2f} {r['per_mac']:9.2f} {r['to_floor']:7.1f}" if r["macs"]
                   else f"{'':8} {'':9} {'':7}")
            out.append(f"{r['kernel']:44} {r['calls']:5d} {r['instructions'] / 1e6:9.2f} "
                       f"{100 * r['instructions'] / total:5.1f}% {mac}")
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
    ap.add_argument("--sram-budget", default=None,
                    help="the compiler's SRAM budget, e.g. 150K (default: none, the memory passes that cost "
                         "instructions off), as benchmarks.run's")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args(argv)
    from tvm_tinytrain.targets.qemu import parse_size

    budget = parse_size(args.sram_budget) if args.sram_budget else None
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = profile(args.model, args.scheme, args.board, args.keep, budget)
    else:
        with tempfile.TemporaryDirectory(prefix="tinytrain-profile-") as tmp:
            result = profile(args.model, args.scheme, args.board, Path(tmp), budget)
    print(report(result, args.top))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
