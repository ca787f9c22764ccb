"""The host engine's speed against PyTorch's, in one run (issue 14's goal: our training step on one
core <= 0.5x PyTorch's fp32 step with the same sparse scheme).

For each model: our generated C built for this host (HostProgram: codegen/host_build.host_flags,
-O3 -march=native), run on 1 predict + `--steps` training steps and on 1 predict alone; and the
PyTorch fp32 step with the same sparse scheme (benchmarks.peers' network and optimizer: FloatNet,
sparse_parameters, SGD, 1 thread), `--steps` steps after 2 warm-up. Both are timed in wall-clock
and in CPU time of the one thread doing the work (ours: the runner's user + system time from
wait4; PyTorch: time.thread_time), the fastest of `--trials` interleaved trials: on a machine
shared with other work the CPU time is the steadier figure (wall time counts waiting for a core).

    python -m benchmarks.host_speed [--models mcunet-5fps mbv2-w0.35 proxyless-w0.3] [--scheme paper-100kb]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

MODELS = ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3")


def _run_ours(exe: Path, folder: Path, memory: dict, requests) -> tuple[float, float]:
    """(wall s, CPU s) of the host runner on `requests`."""
    from tvm_tinytrain.codegen.protocol import encode_requests
    from tvm_tinytrain.errors import TinyTrainError

    req, out = folder / "speed_requests.bin", folder / "speed_answers.bin"
    req.write_bytes(encode_requests(requests, memory, "host speed"))
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe), str(req), str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise TinyTrainError(f"host speed: the host runner failed with status {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _torch_step(model: str, scheme_spec: str):
    """PyTorch's fp32 training step with the scheme's sparse update, as benchmarks.peers builds it."""
    import torch

    from benchmarks.peers import _input
    from benchmarks.run import sample_image
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.float_model import FloatNet, sparse_parameters
    from tvm_tinytrain.schemes import resolve_scheme

    torch.set_num_threads(1)
    graph = load_backbone(model, num_classes=10)
    scheme = resolve_scheme(scheme_spec, graph)
    net = FloatNet(graph)
    image, label = sample_image()
    x, y = torch.tensor(_input(graph, image)), torch.tensor([label])
    opt = torch.optim.SGD(sparse_parameters(net, scheme), lr=scheme.lr_weight)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
    return step


def measure(model: str, scheme: str, steps: int, trials: int) -> dict:
    from benchmarks.run import compile_project, sample_image
    from tvm_tinytrain.codegen.host_runner import HostProgram
    from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN

    image, label = sample_image()
    torch_step = _torch_step(model, scheme)
    for _ in range(2):
        torch_step()
    best = {k: float("inf") for k in ("ours_wall", "ours_cpu", "torch_wall", "torch_cpu")}
    with tempfile.TemporaryDirectory(prefix="tinytrain-speed-") as tmp:
        folder = Path(tmp)
        resolved = compile_project(model, scheme, folder)
        prog = HostProgram(folder)
        base, train = [(PREDICT, 0, image)], [(PREDICT, 0, image)] + [(TRAIN, label, image)] * steps
        for _ in range(trials):
            b, t = _run_ours(prog.exe, folder, prog.memory, base), _run_ours(prog.exe, folder, prog.memory, train)
            best["ours_wall"] = min(best["ours_wall"], (t[0] - b[0]) / steps)
            best["ours_cpu"] = min(best["ours_cpu"], (t[1] - b[1]) / steps)
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(steps):
                torch_step()
            best["torch_wall"] = min(best["torch_wall"], (time.perf_counter() - wall) / steps)
            best["torch_cpu"] = min(best["torch_cpu"], (time.thread_time() - cpu) / steps)
    return {"model": model, "scheme": resolved, **{k: v * 1e3 for k, v in best.items()}}


def markdown(rows) -> str:
    lines = ["| model | scheme | ours ms / step (wall, CPU) | PyTorch fp32 sparse ms / step (wall, CPU) | "
             "ours / PyTorch (wall, CPU) |", "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['scheme']} | {r['ours_wall']:.1f}, {r['ours_cpu']:.1f} | "
                     f"{r['torch_wall']:.1f}, {r['torch_cpu']:.1f} | {r['ours_wall'] / r['torch_wall']:.2f}, "
                     f"{r['ours_cpu'] / r['torch_cpu']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--scheme", default="paper-100kb")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed trial")
    parser.add_argument("--trials", type=int, default=5, help="interleaved trials; the fastest counts")
    args = parser.parse_args(argv)
    print(markdown([measure(m, args.scheme, args.steps, args.trials) for m in args.models]))


if __name__ == "__main__":
    main()
