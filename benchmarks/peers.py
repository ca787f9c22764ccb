"""Peers of our training step on this host, for the same model and scheme.

  pytorch      PyTorch (CPU, 1 thread) training step of the fp32 copy of the int8 Graph
               (tvm_tinytrain/float_model.py).  Two variants: full update, and the same sparse
               scheme (`sparse_parameters`: gradient masks on the updated channels).
  tvm-relax    tvm.relax.training (SetupTrainer + Trainer, llvm, TVM_NUM_THREADS=1) on the same
               fp32 network, imported with torch.export + from_exported_program.  Full update,
               and the same sparse scheme: SetupTrainer differentiates w.r.t. every parameter of
               its backbone, so the network itself carries the scheme (`RelaxNet`): frozen
               tensors are buffers, which the importer binds as constants, and a weight trained
               on its leading k input channels is cat(trainable slice, frozen rest).
  ours-host    our generated C built for this host (HostProgram: gcc -O3 -march=native), ms/step.

SGD at the scheme's weight learning rate, batch 1; ms/step: median of 10 steps after 2 warm-up
steps (ours: the fastest of 3 runs of 10 steps, minus a 1-request run).
Peak RSS is measured per peer in its own process (resource.getrusage / os.wait4 ru_maxrss;
psutil is not installed), so the peers do not pollute each other.

    python -m benchmarks.peers [--models ...] [--scheme paper-100kb]
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

from tvm_tinytrain import conv_geometry
from tvm_tinytrain.errors import TinyTrainError

STEPS, WARMUP = 10, 2
LOSSES_KEPT = 3  # first-step losses reported, to compare the peers' arithmetic
OURS = "ours-host (C, gcc -O3 -march=native, int8)"
PEERS = {"torch-sparse": "pytorch fp32, same sparse scheme", "torch-full": "pytorch fp32, full update",
         "relax-sparse": "tvm relax.training fp32, same sparse scheme",
         "relax-full": "tvm relax.training fp32, full update"}


def _input(graph, image):
    import numpy as np

    q = graph.input_q
    return (q.scale * (np.asarray(image, np.float32) - q.zero))[None].astype(np.float32)


def _timed_steps(step) -> dict:
    """Run `step()` (returns the loss) WARMUP + STEPS times: ms/step = median of the last STEPS."""
    import statistics

    losses, times = [], []
    for i in range(WARMUP + STEPS):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
    return {"ms_per_step": statistics.median(times[WARMUP:]) * 1e3, "loss": losses[0], "losses": losses[:LOSSES_KEPT],
            "last_loss": losses[-1]}


def worker_torch(model: str, scheme_spec: str, sparse: bool) -> dict:
    import torch

    from benchmarks.run import sample_image
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.float_model import FloatNet, sparse_parameters, trained_values
    from tvm_tinytrain.schemes import resolve_scheme

    torch.set_num_threads(1)
    graph = load_backbone(model, num_classes=10)
    scheme = resolve_scheme(scheme_spec, graph)
    net = FloatNet(graph)
    image, label = sample_image()
    x = torch.tensor(_input(graph, image))
    y = torch.tensor([label])
    params = sparse_parameters(net, scheme) if sparse else list(net.parameters())
    opt = torch.optim.SGD(params, lr=scheme.lr_weight)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    n_trained = trained_values(net, scheme) if sparse else int(sum(p.numel() for p in params))
    return {**_timed_steps(step), "trained_values": n_trained, "threads": 1,
            "scheme_resolved": scheme.name if sparse else "full"}


def relax_net(graph, scheme=None):
    """The fp32 network as a torch module TVM 0.27 can import and differentiate.

    Only the scheme's trainable tensors are nn.Parameters (all with scheme=None); the rest are
    buffers, and a weight's trained block is the one float_model.updated_slice names.  Ops are
    chosen for their Relax gradients: ReLU6 is minimum(relu(x), hi) (clip has no gradient), padding
    is the conv's own (pad has none), the global pool is a mean, a lut layer its float function
    written in ops that have one (_lut)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from tvm_tinytrain.float_model import FloatNet, updated_slice
    from tvm_tinytrain.graph import INPUT

    class RelaxNet(nn.Module):
        def __init__(self):
            super().__init__()
            fnet = FloatNet(graph)
            self.steps = []
            for i, (layer, pad, clamp) in enumerate(fnet.spec):
                if layer.op in ("conv2d", "linear"):
                    m = fnet.module(layer.name)
                    w, b = m.weight.detach().clone(), m.bias.detach().clone()
                    axis, k = updated_slice(layer, tuple(w.shape), scheme.weights.get(layer.name, 0) if scheme else 0)
                    k = k if scheme else w.shape[axis]
                    if k:
                        self.register_parameter(f"w{i}", nn.Parameter(w.narrow(axis, 0, k).contiguous()))
                    if k < w.shape[axis]:
                        self.register_buffer(f"f{i}", w.narrow(axis, k, w.shape[axis] - k).contiguous())
                    if scheme is None or layer.name in scheme.bias:
                        self.register_parameter(f"b{i}", nn.Parameter(b))
                    else:
                        self.register_buffer(f"b{i}", b)
                    if pad and (pad[0] != pad[1] or pad[2] != pad[3]):
                        raise TinyTrainError(f"relax peer: {layer.name} has asymmetric padding {pad}, "
                                             f"which conv2d cannot express (and relax pad has no gradient)")
                else:
                    axis = None
                self.steps.append((i, layer, axis, pad, None if clamp is None else torch.tensor(clamp[1])))

        def forward(self, x):
            env = {INPUT: x}
            for i, layer, axis, pad, hi in self.steps:
                a = env[layer.inputs[0]]
                if layer.op in ("conv2d", "linear"):
                    parts = [getattr(self, f"{p}{i}") for p in "wf" if hasattr(self, f"{p}{i}")]
                    w = parts[0] if len(parts) == 1 else torch.cat(parts, axis)
                    if layer.op == "linear":
                        y = F.linear(a, w, getattr(self, f"b{i}"))
                    else:
                        y = F.conv2d(a, w, getattr(self, f"b{i}"), conv_geometry.strides(layer.attrs), (pad[2], pad[0]),
                                     conv_geometry.dilations(layer.attrs), groups=layer.attrs["groups"])
                elif layer.op == "add":
                    y = a + env[layer.inputs[1]]
                elif layer.op == "mul":  # the gate (N, C, 1, 1) broadcast over H x W
                    y = a * env[layer.inputs[1]]
                elif layer.op == "lut":
                    y = _lut(layer.attrs["fn"], a, float(layer.attrs.get("alpha", 0.0)))
                elif layer.op == "concat":
                    y = torch.cat([env[src] for src in layer.inputs], 1)
                elif layer.op == "avgpool" and not layer.attrs:  # global (a windowed one is refused below)
                    y = a.mean((2, 3), keepdim=True)
                elif layer.op == "flatten":
                    y = a.flatten(1)
                else:
                    raise TinyTrainError(f"relax peer: layer {layer.name!r} has op {layer.op!r}, not supported here")
                env[layer.name] = y if hi is None else torch.minimum(F.relu(y), hi)
            return env[graph.output]

    return RelaxNet().eval()


def _lut(fn: str, x, alpha: float):
    """A lut layer's float function (reference_train.TORCH_FUNCTIONS) in torch ops that import as
    Relax ops with a registered gradient (TVM 0.27: relu, minimum, multiply, sigmoid, nn.silu, tanh;
    hardswish, hardsigmoid, leaky_relu and clip have none)."""
    import torch
    import torch.nn.functional as F

    if fn in ("hardsigmoid", "hardswish"):
        gate = torch.minimum(F.relu(x + 3.0), torch.tensor(6.0)) * (1.0 / 6.0)  # relu6(x + 3) / 6
        return gate if fn == "hardsigmoid" else x * gate
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "silu":
        return F.silu(x)
    if fn == "tanh":
        return torch.tanh(x)
    if fn == "leaky_relu":
        return F.relu(x) - alpha * F.relu(-x)
    raise TinyTrainError(f"relax peer: lut function {fn!r} has no Relax form here")


def worker_relax(model: str, scheme_spec: str, sparse: bool) -> dict:
    """tvm.relax.training: SetupTrainer (cross-entropy, SGD) + Trainer on llvm."""
    import numpy as np
    import torch

    from benchmarks.run import sample_image
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.schemes import resolve_scheme

    graph = load_backbone(model, num_classes=10)
    scheme = resolve_scheme(scheme_spec, graph)
    image, label = sample_image()
    x = torch.tensor(_input(graph, image))
    start = time.perf_counter()
    trainer, params = relax_trainer(relax_net(graph, scheme if sparse else None), x, graph.num_classes,
                                    scheme.lr_weight)
    compile_s = time.perf_counter() - start
    xin, yin = x.numpy(), np.array([label], np.int64)
    result = _timed_steps(lambda: float(trainer.update([xin], [yin]).numpy()))
    return {**result, "trained_values": int(sum(p.size for p in params)), "compile_s": compile_s, "threads": 1,
            "scheme_resolved": scheme.name if sparse else "full"}


def relax_trainer(net, x, num_classes: int, lr: float):
    """(Trainer, initial parameters): `net` (relax_net) exported on input `x`, imported, and set up by
    relax.training for cross-entropy (sum) and plain SGD at `lr`, compiled for llvm."""
    import torch
    import tvm
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program
    from tvm.relax.training import SetupTrainer, Trainer
    from tvm.relax.training.loss import CrossEntropyLoss
    from tvm.relax.training.optimizer import SGD

    mod = from_exported_program(torch.export.export(net, (x,)), keep_params_as_input=True,
                                unwrap_unit_return_tuple=True)
    mod, params = relax.frontend.detach_params(mod)
    params = [p.numpy() for p in params["main"]]
    backbone = mod["main"].without_attr("params").with_attr("global_symbol", "backbone")
    mod = tvm.IRModule({"backbone": backbone}).with_attrs({"param_num": len(params), "state_num": 0})
    setup = SetupTrainer(CrossEntropyLoss(reduction="sum"), SGD(lr),
                         [relax.TensorType((1, num_classes), "float32"), relax.TensorType((1,), "int64")])
    train_mod = setup(mod)
    vm = relax.VirtualMachine(tvm.compile(train_mod, target="llvm"), tvm.cpu())
    trainer = Trainer(train_mod, vm, tvm.cpu(), False)
    trainer.load_params(params)
    return trainer, params


def _rss_bytes():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _condensed(err: BaseException) -> str:
    """An exception as one line: TVM's 'Check failed: ...' line if there is one, else the last line."""
    lines = [l.strip() for l in str(err).strip().splitlines() if l.strip()] or [""]
    line = next((l for l in reversed(lines) if "Check failed" in l), lines[-1])
    return f"{type(err).__name__}: {line}"[:400]


def _worker_main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True, choices=tuple(PEERS))
    parser.add_argument("--model", required=True)
    parser.add_argument("--scheme", default="paper-100kb")
    args = parser.parse_args(argv)
    kind, variant = args.worker.split("-")
    worker = worker_relax if kind == "relax" else worker_torch
    try:
        result = worker(args.model, args.scheme, sparse=variant == "sparse")
    except Exception as err:  # reported as "not measured" with the reason, never a traceback
        print("FAILED " + json.dumps(_condensed(err)))
        return
    result["peak_rss_bytes"] = _rss_bytes()
    print("RESULT " + json.dumps(result))


def _spawn(kind, model, scheme, timeout=900) -> dict:
    """Run one peer worker in its own process (1 thread), peak RSS measured by run.rss_launcher."""
    from benchmarks.run import rss_launcher

    cmd = [str(rss_launcher()), sys.executable, "-m", "benchmarks.peers", "--worker", kind, "--model", model,
           "--scheme", scheme]
    env = {**os.environ, "TVM_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return {"measured": False, "reason": f"did not finish within {timeout} s"}
    rss = [int(l.split()[1]) for l in res.stderr.splitlines() if l.startswith("TT_MAXRSS_KB ")]
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            result = {"measured": True, **json.loads(line[7:])}
            if rss:
                result["peak_rss_bytes"] = rss[-1] * 1024  # of the worker process alone (see run.rss_launcher)
            return result
        if line.startswith("FAILED "):
            return {"measured": False, "reason": json.loads(line[7:])}
    err = [l for l in res.stderr.strip().splitlines() if l.strip() and not l.startswith("TT_MAXRSS_KB ")]
    return {"measured": False, "reason": (err[-1] if err else f"exit status {res.returncode}")[:400]}


def measure_ours(model, scheme) -> dict:
    from benchmarks.run import compile_project, sample_image, time_host

    image, label = sample_image()
    with tempfile.TemporaryDirectory(prefix="tinytrain-peer-") as tmp:
        resolved = compile_project(model, scheme, Path(tmp))
        t = time_host(Path(tmp), image, label, repeats=STEPS)
    return {"measured": True, "ms_per_step": t["ms_per_step"], "peak_rss_bytes": t["rss_bytes"],
            "arena_bytes": t["arena_bytes"], "updated_param_bytes": t["updated_param_bytes"],
            "scheme_resolved": resolved}


def run_peers(models, schemes=("paper-100kb",), progress=None) -> list[dict]:
    """Every peer for every model and scheme; ratios are peer / ours-host.  `progress(text)`
    is called before each measurement."""
    rows = []
    for model in models:
        for scheme in schemes:
            if progress:
                progress(f"peers {model}: ours-host")
            entries = {OURS: measure_ours(model, scheme)}
            for kind, name in PEERS.items():
                if progress:
                    progress(f"peers {model}: {kind}")
                entries[name] = _spawn(kind, model, scheme)
            ours = entries[OURS]
            for name, e in entries.items():
                if e.get("measured"):
                    e["ms_ratio_vs_ours"] = e["ms_per_step"] / ours["ms_per_step"] if ours["ms_per_step"] else None
                    e["rss_ratio_vs_ours"] = e["peak_rss_bytes"] / ours["peak_rss_bytes"]
                rows.append({"model": model, "scheme": scheme, "peer": name, **e})
    return rows


def _note(r) -> str:
    if "arena_bytes" in r:
        return f"arena {r['arena_bytes'] / 1024:.0f} KB + trained params {r['updated_param_bytes'] / 1024:.0f} KB"
    note = f"{r['trained_values']:,} values trained; first losses " + ", ".join(f"{l:.4f}" for l in r["losses"])
    return note + (f"; compile {r['compile_s']:.0f} s" if "compile_s" in r else "")


def markdown(rows) -> str:
    lines = ["| model | scheme | peer | ms / step | x ours | peak RSS (MB) | x ours | note |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if r.get("measured"):
            ratio = "" if r["ms_ratio_vs_ours"] is None else f"{r['ms_ratio_vs_ours']:.2f}"
            lines.append(f"| {r['model']} | {r['scheme']} | {r['peer']} | {r['ms_per_step']:.1f} | {ratio} | "
                         f"{r['peak_rss_bytes'] / 2**20:.1f} | {r['rss_ratio_vs_ours']:.0f} | {_note(r)} |")
        else:
            lines.append(f"| {r['model']} | {r['scheme']} | {r['peer']} | not measured | | | | {r['reason']} |")
    lines.append(f"\nPeak RSS: of each peer's own process (the whole process: Python, PyTorch / TVM runtime), "
                 f"measured by a small C launcher with wait4. One thread each (torch.set_num_threads(1), "
                 f"TVM_NUM_THREADS=1). ms/step: median of {STEPS} steps after {WARMUP} warm-up steps on one CIFAR-10 "
                 f"image (ours: the fastest of 3 runs of {STEPS} steps, minus a 1-request run). The fp32 peers start from the "
                 f"dequantized int8 weights; equal first losses of PyTorch and relax.training show they compute "
                 f"the same network.")
    return "\n".join(lines)


def plot(rows, path: Path):
    """Bar charts of ms/step and peak RSS per peer and model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    peers = list(dict.fromkeys(r["peer"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    width = 0.8 / len(peers)
    for j, peer in enumerate(peers):
        xs, ms, rss = [], [], []
        for i, m in enumerate(models):
            r = next((r for r in rows if r["model"] == m and r["peer"] == peer and r.get("measured")), None)
            if r:
                xs.append(i + (j - (len(peers) - 1) / 2) * width)
                ms.append(r["ms_per_step"])
                rss.append(r["peak_rss_bytes"] / 2**20)
        axes[0].bar(xs, ms, width, label=peer)
        axes[1].bar(xs, rss, width, label=peer)
    for ax, label in zip(axes, ("ms / training step (this host, 1 thread)", "peak RSS (MB)")):
        ax.set_xticks(range(len(models)), models)
        ax.set_yscale("log")
        ax.set_ylabel(label)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    axes[0].set_title(f"training step on this host, scheme {rows[0]['scheme']}")
    axes[1].set_title("peak resident memory of the process")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return _worker_main(argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mcunet-5fps"])
    parser.add_argument("--scheme", default="paper-100kb")
    args = parser.parse_args(argv)
    rows = run_peers(args.models, [args.scheme], progress=lambda text: print(text, file=sys.stderr))
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
