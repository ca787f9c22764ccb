"""Peers of our training step on this host, for the same model and scheme.

  pytorch      PyTorch (CPU, 1 thread) training step of the fp32 copy of the int8 Graph
               (tvm_tinytrain/float_model.py).  Two variants: full update, and the same sparse
               scheme (`sparse_parameters`).  SGD, ms/step over 10 steps after 2 warm-up steps.
  tvm-relax    tvm.relax.training (SetupTrainer) on an fp32 Relax module of the model: tried,
               and reported as not measured with the reason if it does not work.
  ours-host    our generated C built with gcc -O2 for this host (HostProgram), ms/step.

Peak RSS is measured per peer in its own process (resource.getrusage / os.wait4 ru_maxrss;
psutil is not installed), so the peers do not pollute each other.

    python -m benchmarks.peers [--models ...] [--scheme paper-100kb]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS, WARMUP = 10, 2


def _input(graph, image):
    import numpy as np

    q = graph.input_q
    return (q.scale * (np.asarray(image, np.float32) - q.zero))[None].astype(np.float32)


def worker_torch(model: str, scheme_spec: str, sparse: bool) -> dict:
    import numpy as np
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

    first_loss = step()
    for _ in range(WARMUP - 1):
        step()
    start = time.perf_counter()
    for _ in range(STEPS):
        loss = step()
    ms = (time.perf_counter() - start) / STEPS * 1e3
    n_trained = trained_values(net, scheme) if sparse else int(sum(p.numel() for p in params))
    return {"ms_per_step": ms, "loss": first_loss, "last_loss": loss, "trained_values": n_trained, "threads": 1,
            "scheme_resolved": scheme.name if sparse else "full", "finite": bool(np.isfinite(loss))}


def worker_relax(model: str, scheme_spec: str) -> dict:
    """tvm.relax.training.SetupTrainer on an fp32 Relax module of the torch copy (llvm)."""
    import numpy as np
    import torch
    import tvm
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program
    from tvm.relax.training import SetupTrainer, Trainer
    from tvm.relax.training.loss import CrossEntropyLoss
    from tvm.relax.training.optimizer import SGD

    from benchmarks.run import sample_image
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.float_model import FloatNet

    graph = load_backbone(model, num_classes=10)
    net = FloatNet(graph).eval()
    image, label = sample_image()
    x = torch.tensor(_input(graph, image))
    exported = torch.export.export(net, (x,))
    mod = from_exported_program(exported, keep_params_as_input=True)
    mod, params = relax.frontend.detach_params(mod)
    param_list = params["main"]
    n_inputs = 1
    out_sinfo = relax.TensorStructInfo((1, graph.num_classes), "float32")
    if isinstance(out_sinfo, relax.TupleStructInfo):
        raise RuntimeError("model returns a tuple")
    loss = CrossEntropyLoss(reduction="sum")
    label_sinfo = relax.TensorStructInfo((1,), "int64")
    setup = SetupTrainer(loss, SGD(0.05), [out_sinfo, label_sinfo])
    train_mod = setup(mod)
    ex = tvm.compile(train_mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    trainer = Trainer(train_mod, vm, tvm.cpu(), False)
    trainer.load_params([p.numpy() for p in param_list])
    xin, yin = x.numpy(), np.array([label], np.int64)
    for _ in range(WARMUP):
        trainer.update([xin], [yin])
    start = time.perf_counter()
    for _ in range(STEPS):
        out = trainer.update([xin], [yin])
    ms = (time.perf_counter() - start) / STEPS * 1e3
    return {"ms_per_step": ms, "loss": float(out.numpy()), "n_inputs": n_inputs, "scheme_resolved": "full"}


def _rss_bytes():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker_main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True, choices=("torch-full", "torch-sparse", "relax"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--scheme", default="paper-100kb")
    args = parser.parse_args(argv)
    if args.worker == "relax":
        result = worker_relax(args.model, args.scheme)
    else:
        result = worker_torch(args.model, args.scheme, sparse=args.worker == "torch-sparse")
    result["peak_rss_bytes"] = _rss_bytes()
    print("RESULT " + json.dumps(result))


def _spawn(kind, model, scheme, timeout=600) -> dict:
    from benchmarks.run import rss_launcher

    cmd = [str(rss_launcher()), sys.executable, "-m", "benchmarks.peers", "--worker", kind, "--model", model, "--scheme", scheme]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return {"measured": False, "reason": f"did not finish within {timeout} s"}
    rss = [int(l.split()[1]) for l in res.stderr.splitlines() if l.startswith("TT_MAXRSS_KB ")]
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            result = {"measured": True, **json.loads(line[7:])}
            if rss:
                result["peak_rss_bytes"] = rss[-1] * 1024  # of the worker process alone (see run.rss_launcher)
            return result
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


def run_peers(models, schemes=("paper-100kb",)) -> list[dict]:
    rows = []
    for model in models:
        for scheme in schemes:
            entries = {"ours-host (C, gcc -O2)": measure_ours(model, scheme),
                       "pytorch fp32, sparse (same scheme)": _spawn("torch-sparse", model, scheme),
                       "pytorch fp32, full update": _spawn("torch-full", model, scheme),
                       "tvm relax.training fp32, full update": _spawn("relax", model, scheme)}
            ours = entries["ours-host (C, gcc -O2)"]
            for name, e in entries.items():
                if e.get("measured"):
                    e["ms_ratio_vs_ours"] = e["ms_per_step"] / ours["ms_per_step"] if ours["ms_per_step"] else None
                    e["rss_ratio_vs_ours"] = e["peak_rss_bytes"] / ours["peak_rss_bytes"]
                rows.append({"model": model, "scheme": scheme, "peer": name, **e})
            print(f"  peers {model} {scheme} done", file=sys.stderr)
    return rows


def markdown(rows) -> str:
    lines = ["| model | scheme | peer | ms / step | x ours | peak RSS (MB) | x ours | note |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if r.get("measured"):
            note = (f"arena {r['arena_bytes'] / 1024:.0f} KB + trained params {r['updated_param_bytes'] / 1024:.0f} KB"
                    if "arena_bytes" in r else f"first-step loss {r.get('loss', float('nan')):.3f}")
            lines.append(f"| {r['model']} | {r['scheme']} | {r['peer']} | {r['ms_per_step']:.1f} | "
                         f"{r['ms_ratio_vs_ours']:.1f} | {r['peak_rss_bytes'] / 2**20:.1f} | {r['rss_ratio_vs_ours']:.1f} | {note} |")
        else:
            lines.append(f"| {r['model']} | {r['scheme']} | {r['peer']} | not measured | | | | {r['reason']} |")
    lines.append("\nPeak RSS is of each peer's own process, measured by a small C launcher with wait4 (fork from the big benchmark process would otherwise carry its RSS high-water mark over exec) (whole process: the Python interpreter and "
                 "libraries for PyTorch/TVM); PyTorch runs with 1 thread; ms/step over "
                 f"{STEPS} steps after {WARMUP} warm-up steps (ours: {STEPS} steps minus a 1-request run).")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return _worker_main(argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mcunet-5fps"])
    parser.add_argument("--scheme", default="paper-100kb")
    args = parser.parse_args(argv)
    rows = run_peers(args.models, [args.scheme])
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
