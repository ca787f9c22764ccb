"""Five models of a user's own (not the paper's backbones), through the command line a user has:
each pretrained briefly in fp32, then `quantize` (from torch module:function and from ONNX),
`compile` (host and cortex-m7), `train --lr auto` on real data on the host, a few steps on QEMU
Cortex-M7 against the same steps on the host (bit for bit) and the TVM-built step against the C.

Protocol, per model (deterministic seeds, 1 torch thread):
  pretraining:  fp32 torch (Adam, batch 64) on the training split of the first K classes of its
                dataset only, on exactly the features the project's loaders produce
                (load_dataset(...).to_float);
  the user's model: `my_<name>.py:net(num_classes)` in the model's work folder, which loads those
                weights and gives the head a row per class (rows of the new classes seeded
                random with the pretrained rows' mean norm and bias, as benchmarks/kws_pretrain.py);
                and model.onnx, the same weights through torch.onnx.export(dynamo=True);
  fine-tuning:  scheme last-2, on all classes (the new ones never seen), `--train-per-class` /
                `--test-per-class` samples, --lr auto, cosine with warm-up; "before" is the int8
                model before its first step, so the new classes start near 0 %.

Per model, outputs go to benchmarks/results/user_models/<name>.json (read back on a rerun: the
benchmark resumes), heavy files (weights, ONNX, graph files, projects) to --work (default
out/user_models/).  Then results.md (the docs table) and user_models.png (accuracy before/after).

`--zoo` runs the same protocol on the tinyML model zoo of issue 12 (ZOO: the MLPerf Tiny models,
MobileNetV3-small at 64x64, a 1-D CNN on a sensor-like signal), into benchmarks/results/model_zoo/
and out/model_zoo/, with model_zoo.png (accuracy, SRAM and flash against the M7's budget).  Every
run also compares the same steps' Relax gradients and updates with the PyTorch oracle
(reference_train.TorchTrainer), against the tolerances of tests/three_way.py.

    python -m benchmarks.user_models [--zoo] [--models resnet8 kws_cnn ...] [--quick] [--redo]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

RESULTS = Path(__file__).resolve().parent / "results" / "user_models"
WORK = Path("out/user_models")
ZOO_RESULTS, ZOO_WORK = RESULTS.parent / "model_zoo", Path("out/model_zoo")
SCHEME = "last-2"
BOARD = "cortex-m7"
SEED = 0


@dataclass(frozen=True)
class ModelCase:
    name: str             # module in tvm_tinytrain/models/
    data: str             # --data spec, or "npz:<name>" for an npz that NPZ_BUILDERS[name] writes once
    input_shape: tuple
    classes: int
    pretrain_classes: int
    what: str             # for the table


CASES = (
    ModelCase("kws_cnn", "speech-commands", (1, 49, 40), 12, 8, "keyword spotting, DS-CNN (log-mel 1x49x40)"),
    ModelCase("resnet8", "cifar10", (3, 32, 32), 10, 6, "ResNet-8, MLPerf Tiny (CIFAR-10)"),
    ModelCase("mlp_head_cnn", "mnist", (1, 28, 28), 10, 6, "CNN + MLP head, flatten-linear-ReLU-linear (MNIST)"),
    ModelCase("temporal_cnn", "npz:logmel_sequences", (40, 1, 49), 12, 8,
              "1-D temporal CNN on a 40 x 49 sequence, npz (C, L)"),
    ModelCase("vgg_small", "fashion-mnist", (1, 28, 28), 10, 6, "VGG-style, dense 3x3 convs (Fashion-MNIST)"),
)
ZOO = (  # issue 12's tinyML model zoo (the anomaly-detection autoencoder is benchmarks/ae_adaptation.py)
    ModelCase("kws_cnn", "speech-commands", (1, 49, 40), 12, 8,
              "DS-CNN-style keyword spotting (Speech Commands log-mel 1x49x40)"),
    ModelCase("resnet8", "cifar10", (3, 32, 32), 10, 6, "ResNet-8, MLPerf Tiny (CIFAR-10 32x32)"),
    ModelCase("mobilenetv1", "cifar10", (3, 96, 96), 10, 6,
              "MobileNetV1-0.25, MLPerf Tiny visual wake words (CIFAR-10 upscaled to 96x96)"),
    ModelCase("mobilenetv3_small", "cifar10", (3, 64, 64), 10, 6,
              "MobileNetV3-small-style w0.25, Hardswish, SE + Hardsigmoid (CIFAR-10 upscaled to 64x64)"),
    ModelCase("sensor_cnn1d", "npz:band_envelopes", (3, 1, 128), 12, 8,
              "1-D CNN on a 3 x 128 sensor-like signal (Speech Commands band envelopes)"),
)


@dataclass(frozen=True)
class Budget:
    pretrain_per_class: int = 400
    pretrain_epochs: int = 6
    train_per_class: int = 40
    test_per_class: int = 40
    epochs: int = 2
    device_steps: int = 3


FULL, QUICK = Budget(), Budget(pretrain_per_class=8, pretrain_epochs=1, train_per_class=2, test_per_class=2,
                               epochs=1, device_steps=2)


# ------------------------------------------------------------------ the user's model and data

def build(case: ModelCase, num_classes: int):
    import importlib

    return importlib.import_module(f"tvm_tinytrain.models.{case.name}").build(num_classes=num_classes, seed=SEED)


def pretrained(name: str, weights: str, num_classes: int):
    """(model, example input): the pretrained backbone, a head of `num_classes` rows (called by my_<name>.py)."""
    import torch

    case = next(c for c in CASES + ZOO if c.name == name)
    model, example = build(case, num_classes)
    state = torch.load(weights, weights_only=True)
    head = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith(head + ".")}, strict=False)
    w_old, b_old = state[head + ".weight"], state[head + ".bias"]
    k = min(num_classes, len(w_old))
    with torch.no_grad():
        new = torch.randn(num_classes - k, w_old.shape[1], generator=torch.Generator().manual_seed(SEED))
        new *= w_old.norm(dim=1).mean() / new.norm(dim=1, keepdim=True).clamp_min(1e-12)
        layer = model.get_submodule(head)
        layer.weight.copy_(torch.cat([w_old[:k], new]))
        layer.bias.copy_(torch.cat([b_old[:k], b_old.mean().repeat(num_classes - k)]))
    return model.eval(), example


SHIM = '''"""The pretrained {name} with a head of num_classes rows (written by benchmarks/user_models.py)."""
from benchmarks.user_models import pretrained


def net(num_classes={classes}):
    return pretrained("{name}", "{weights}", num_classes)
'''


def data_spec(case: ModelCase, work: Path) -> str:
    """The --data of `case`; an "npz:<name>" one is built once into the work folder."""
    if not case.data.startswith("npz:"):
        return case.data
    name = case.data.partition(":")[2]
    path = (work / f"{name}.npz").resolve()
    if not path.exists():
        NPZ_BUILDERS[name](path)
    return f"npz:{path}"


def logmel_sequences(path: Path):
    """The Speech Commands log-mel features, each clip as 40 bands (channels) x 49 frames (length)."""
    from tvm_tinytrain.data.datasets import load_dataset

    d = load_dataset("speech-commands", (1, 49, 40), seed=SEED, progress=False)
    seq = {split: d.to_float(x)[:, 0].transpose(0, 2, 1).copy() for split, x in (("x", d.train_x),
                                                                                 ("x_test", d.test_x))}
    np.savez(path, x=seq["x"], y=d.train_y, x_test=seq["x_test"], y_test=d.test_y)


ENVELOPE_HOP = 125                                   # 16 kHz / 125 = 128 frames a second
ENVELOPE_BANDS = ((0, 4), (4, 16), (16, 63))         # rfft bins of 128 Hz: 0-0.5, 0.5-2, 2-8 kHz


def band_envelopes(path: Path):
    """A sensor-like signal from real recordings: each Speech Commands clip as 3 channels x 128
    samples (1 s at 128 Hz, an accelerometer's shape and rate): the log energy of three frequency
    bands in consecutive 125-sample frames, each band standardised by the training clips' mean and
    standard deviation; labels are the 12 classes."""
    from tvm_tinytrain.data.speech_commands import CLASSES, load_speech_commands

    def envelopes(audio):
        frames = audio[:, :128 * ENVELOPE_HOP].astype(np.float32).reshape(len(audio), 128, ENVELOPE_HOP) / 32768
        power = np.abs(np.fft.rfft(frames * np.hanning(ENVELOPE_HOP).astype(np.float32), axis=2)) ** 2
        bands = [power[:, :, lo:hi].sum(axis=2) for lo, hi in ENVELOPE_BANDS]
        return np.log(np.stack(bands, axis=1) + 1e-6).astype(np.float32)  # (N, 3, 128)

    (x, y), (x_test, y_test) = [(envelopes(a), labels) for a, labels in
                                (load_speech_commands(split, progress=False) for split in ("train", "test"))]
    mean, std = x.mean(axis=(0, 2), keepdims=True), x.std(axis=(0, 2), keepdims=True)
    np.savez(path, x=(x - mean) / std, y=y, x_test=(x_test - mean) / std, y_test=y_test, classes=np.array(CLASSES))


NPZ_BUILDERS = {"logmel_sequences": logmel_sequences, "band_envelopes": band_envelopes}


# ------------------------------------------------------------------ pretraining (fp32, torch)

def pretrain(case: ModelCase, spec: str, budget: Budget, weights: Path) -> dict:
    import torch

    from tvm_tinytrain.data.datasets import load_dataset

    torch.set_num_threads(1)
    classes = ",".join(str(i) for i in range(case.pretrain_classes))
    d = load_dataset(f"{spec}:classes={classes}", case.input_shape, train_per_class=budget.pretrain_per_class,
                     test_per_class=100, seed=SEED, progress=False)
    torch.manual_seed(SEED)
    model, example = build(case, case.pretrain_classes)
    x = torch.from_numpy(d.to_float(d.train_x)).reshape(-1, *example.shape[1:])  # a (C, L) model: H = 1 dropped
    y = torch.from_numpy(d.train_y.astype(np.int64))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen, t0 = torch.Generator().manual_seed(SEED), time.time()
    for epoch in tqdm(range(budget.pretrain_epochs), desc=f"{case.name}: pretrain", leave=False):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(d.to_float(d.test_x)).reshape(-1, *example.shape[1:])).argmax(1).numpy()
    torch.save(model.state_dict(), weights)
    return {"classes": case.pretrain_classes, "train_samples": len(x), "epochs": budget.pretrain_epochs,
            "fp32_test_accuracy": float((pred == d.test_y).mean()), "seconds": round(time.time() - t0, 1)}


def export_onnx(case: ModelCase, weights: Path, path: Path):
    import logging

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    model, example = pretrained(case.name, str(weights), case.classes)
    # torch's default (dynamo) exporter for every model: the 1-D CNN's AdaptiveAvgPool1d comes out as
    # Unsqueeze -> AveragePool -> Squeeze, which frontend/onnx.py takes since issue 12 (the TorchScript
    # exporter, used before, folds BatchNorm1d in another float order: a different quantization hash)
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, (example,), str(path), dynamo=True, verbose=False)


# ------------------------------------------------------------------ the command line, as a user runs it

def cli(*argv) -> str:
    """`tvm-tinytrain ARGV` in this process (the current folder is the model's); its stdout."""
    from tvm_tinytrain.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    if code:
        raise RuntimeError(f"tvm-tinytrain {' '.join(map(str, argv))} exited {code}")
    return out.getvalue()


def device_checks(graph_file: str, host_dir: Path, m7_dir: Path, spec: str, case: ModelCase, lr: float,
                  steps: int) -> dict:
    """The same `steps` training steps and one prediction on QEMU Cortex-M7, on the host build and
    through TVM (RelaxTrainer): device == host bit for bit, TVM == C within the C-vs-TVM test's bounds;
    and the same steps through TVM against the PyTorch oracle (`oracle_agreement`)."""
    from tvm_tinytrain.codegen.host_runner import HostProgram
    from tvm_tinytrain.data.datasets import load_dataset
    from tvm_tinytrain.model_spec import load_model
    from tvm_tinytrain.passes.pipeline import build_training
    from tvm_tinytrain.relax_trainer import RelaxTrainer
    from tvm_tinytrain.schemes import resolve_scheme
    from tvm_tinytrain.targets.qemu import QemuProgram, load_board

    d = load_dataset(spec, case.input_shape, train_per_class=1, test_per_class=1, seed=SEED, progress=False)
    samples = [(d.train_x[i], int(d.train_y[i])) for i in range(steps)]

    def drive(prog):
        with prog.session(timeout=600) as s:
            s.set_learning_rates(lr, lr)
            losses, counts = [], []
            for x, y in samples:
                losses.append(s.train(x, y))
                counts.append(s.instructions)
            logits = np.asarray(s.predict(d.test_x[0]))
            params = s.params()
        return losses, counts, logits, params, s.stack_bytes

    qemu = QemuProgram(m7_dir, load_board(BOARD))
    q_losses, counts, q_logits, q_params, stack = drive(qemu)
    h_losses, _, h_logits, h_params, _ = drive(HostProgram(host_dir))
    same = (q_losses == h_losses and np.array_equal(q_logits, h_logits)
            and all(np.array_equal(q_params[k], h_params[k]) for k in h_params))
    graph = load_model(graph_file)
    scheme = resolve_scheme(SCHEME, graph, lr_weight=lr, lr_bias=lr)
    oracle = oracle_agreement(graph, scheme, samples)
    trainer = RelaxTrainer(build_training(graph, scheme))
    t_losses = [trainer.step(x, y, i, lr, lr) for i, (x, y) in enumerate(samples)]
    rel = max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(h_losses, t_losses))
    apart = total = worst = 0
    for k, v in trainer.params.items():
        if k in h_params and h_params[k].shape == v.shape and v.dtype != np.float32:
            diff = np.abs(h_params[k].astype(np.int64) - v.astype(np.int64))
            apart, total, worst = apart + int((diff != 0).sum()), total + v.size, max(worst, int(diff.max()))
    return {"steps": steps, "qemu_losses": [float(v) for v in q_losses], "host_losses": [float(v) for v in h_losses],
            "device_equals_host": bool(same), "tvm_losses": [float(v) for v in t_losses],
            "tvm_vs_c_loss_rel": float(rel), "tvm_vs_c_values_apart": apart, "tvm_vs_c_values": total,
            "tvm_vs_c_max_diff": worst,
            "tvm_equals_c": bool(rel <= 1e-5 and worst <= 1 and apart <= max(3, total // 1000)),
            "instructions_per_step": float(np.mean(counts)), "stack_bytes": stack,
            "flash_bytes": qemu.flash_bytes, "ram_bytes": qemu.ram_bytes, "oracle": oracle}


def oracle_agreement(graph, scheme, samples) -> dict:
    """The TVM-built step (with its gradients) against the PyTorch oracle, each step from the same
    parameters: the largest differences of the loss, the gradients (relative to the oracle's largest),
    the updated integers and floats, and whether each is within tests/three_way.py's tolerances."""
    from tvm_tinytrain.passes.pipeline import build_training
    from tvm_tinytrain.reference_train import TorchTrainer
    from tvm_tinytrain.relax_trainer import RelaxTrainer

    relax_side, oracle = RelaxTrainer(build_training(graph, scheme, return_grads=True)), TorchTrainer(graph, scheme)
    loss_rel = grad_rel = float_rel = 0.0
    int_diff, losses_close, same_grads = 0, True, True
    for step, (x, label) in enumerate(samples):
        loss, ref = relax_side.step(x, label, step), oracle.step(x, label, step)
        loss_rel = max(loss_rel, abs(loss - ref.loss) / max(abs(ref.loss), 1e-30))
        losses_close = losses_close and abs(loss - ref.loss) <= 1e-5 * abs(ref.loss) + 1e-6
        same_grads = same_grads and set(relax_side.grads) == set(ref.grads)
        for name, grad in relax_side.grads.items():
            want = ref.grads.get(name, np.zeros_like(grad))
            grad_rel = max(grad_rel, float(np.abs(grad - want).max() / max(np.abs(want).max(), 1e-30)))
        for name in relax_side.updated:
            got, want = relax_side.params[name], ref.params[name]
            if want.dtype == np.float32:
                float_rel = max(float_rel, float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)))
            else:
                int_diff = max(int_diff, int(np.abs(got.astype(np.int64) - want.astype(np.int64)).max()))
        oracle.load_params(relax_side.params)
    return {"steps": len(samples), "loss_max_rel": loss_rel, "grad_max_rel": grad_rel, "int_max_diff": int_diff,
            "float_max_rel": float_rel, "same_gradients": same_grads,
            "agrees": bool(losses_close and same_grads and grad_rel <= 1e-5 and int_diff <= 1 and float_rel <= 1e-5)}


def graph_difference(a: Path, b: Path) -> dict:
    """How two graph files' arrays (layer by layer, in order) differ: integers apart, and the largest
    relative difference of the float ones (the per-channel scales)."""
    with np.load(a) as x, np.load(b) as y:
        if [(v.shape, v.dtype) for v in x.values()] != [(v.shape, v.dtype) for v in y.values()]:
            return {"same_layout": False}
        ints_apart = floats_apart = 0
        float_rel = 0.0
        for u, v in zip(x.values(), y.values()):
            apart = int((u != v).sum())
            if u.dtype.kind == "f":
                floats_apart += apart
                float_rel = max(float_rel, float(np.abs(u - v).max() / max(np.abs(v).max(), 1e-30)))
            else:
                ints_apart += apart
    return {"same_layout": True, "int_values_apart": ints_apart, "float_values_apart": floats_apart,
            "float_max_rel": float_rel}


def run_case(case: ModelCase, budget: Budget, work: Path) -> dict:
    from tvm_tinytrain.graph_file import quantization_hash
    from tvm_tinytrain.model_spec import load_model

    t0 = time.time()
    folder = (work / case.name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    spec = data_spec(case, work)
    weights = folder / "pretrained.pt"
    info = folder / "pretrain.json"
    if not (weights.exists() and info.exists()):
        info.write_text(json.dumps(pretrain(case, spec, budget, weights)))
    result = {"model": case.name, "what": case.what, "input_shape": list(case.input_shape),
              "data": case.data + ".npz" if case.data.startswith("npz:") else spec,
              "scheme": SCHEME, "budget": asdict(budget), "pretrain": json.loads(info.read_text())}
    (folder / f"my_{case.name}.py").write_text(SHIM.format(name=case.name, weights=weights, classes=case.classes))
    export_onnx(case, weights, folder / "model.onnx")  # always: a kept file may come from another exporter
    here = os.getcwd()
    os.chdir(folder)  # module:function is found in the current folder, as a user runs it
    try:
        common = ["--data", spec, "--force"]
        train_args = ["--scheme", SCHEME, "--epochs", budget.epochs, "--train-per-class", budget.train_per_class,
                      "--test-per-class", budget.test_per_class, "--lr", "auto", "--warmup-epochs", 0.5,
                      "--seed", SEED]
        runs = {}
        for path, model in (("torch", f"my_{case.name}:net"), ("onnx", "model.onnx")):
            cli("quantize", model, *common, "--out", f"graph_{path}")
            cli("train", f"graph_{path}.json", *common, *train_args, "--out", f"train_{path}")
            runs[path] = json.loads((folder / f"train_{path}" / "history.json").read_text())
        hashes = {p: quantization_hash(load_model(f"graph_{p}.json")) for p in runs}
        compiled = {t: cli("compile", "graph_torch.json", "--scheme", SCHEME, "--target", t, "--out", f"project_{t}",
                           "--force") for t in ("host", BOARD)}
        memory = json.loads((folder / f"project_{BOARD}" / "memory.json").read_text())
        torch_run, onnx_run = runs["torch"], runs["onnx"]
        lr = torch_run["lr_weight"]
        device = device_checks("graph_torch.json", folder / "project_host", folder / f"project_{BOARD}", spec, case,
                               lr, budget.device_steps)
    finally:
        os.chdir(here)
    result.update({
        "quantization": hashes, "same_quantization": hashes["torch"] == hashes["onnx"],
        "torch_vs_onnx_graph": graph_difference(folder / "graph_torch.npz", folder / "graph_onnx.npz"),
        "torch_onnx_losses_equal": torch_run["history"]["losses"] == onnx_run["history"]["losses"],
        "accuracy": {p: {"before": r["initial_accuracy"], "after": r["test_accuracy"]} for p, r in runs.items()},
        "lr_auto": lr, "lr_reason": torch_run.get("lr_range", {}).get("reason"),
        "train_samples": len(torch_run["history"]["losses"]) // budget.epochs,
        "arena_bytes": memory["arena_bytes"], "updated_param_bytes": memory["updated_param_bytes"],
        "const_bytes": memory["const_bytes"], "compile_output": compiled, "device": device,
        "seconds": round(time.time() - t0, 1)})
    return result


# ------------------------------------------------------------------ outputs

def table(results: list[dict], missing: list[str]) -> str:
    lines = ["| model | torch == ONNX (every loss) | test accuracy before -> after, all classes (%) | --lr auto | "
             "QEMU M7 == host | TVM step == C | M7 SRAM: static + stack (KB) | M7 flash (KB) | instructions / step |",
             "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: |"]
    for r in results:
        a, d = r["accuracy"]["torch"], r["device"]
        lines.append(
            f"| {r['what']} | {'yes' if r['torch_onnx_losses_equal'] else 'NO'} "
            f"({'same' if r['same_quantization'] else 'other'} int8 graph) | "
            f"{100 * a['before']:.1f} -> {100 * a['after']:.1f} | {r['lr_auto']:.3g} | "
            f"{'bit for bit' if d['device_equals_host'] else 'NO'} ({d['steps']} steps) | "
            f"{'yes' if d['tvm_equals_c'] else 'NO'} ({d['tvm_vs_c_values_apart']} of {d['tvm_vs_c_values']} int8 "
            f"values differ) | {d['ram_bytes'] / 1024:.1f} + {d['stack_bytes'] / 1024:.1f} | "
            f"{d['flash_bytes'] / 1024:.1f} | "
            f"{d['instructions_per_step'] / 1e6:.2f} M |")
    for name in missing:
        lines.append(f"| {name} | not run | | | | | | | |")
    return "\n".join(lines)


SRAM_KB, FLASH_KB = 320, 1024  # the Cortex-M7 board's budget (boards/cortex-m7.json)


def zoo_table(results: list[dict], missing: list[str]) -> str:
    """The model-zoo table: the M7's budget first, then the three oracles, then learning."""
    lines = ["| model | int8 input | M7 peak SRAM: static + stack (KB) | M7 flash (KB) | instructions / step | "
             "QEMU M7 == host | TVM step == C | TVM step vs PyTorch oracle | torch == ONNX | "
             "test accuracy before -> after (%) |",
             "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: |"]
    for r in results:
        a, d, o = r["accuracy"]["torch"], r["device"], r["device"]["oracle"]
        peak = (d["ram_bytes"] + d["stack_bytes"]) / 1024
        fits = f"fits, {SRAM_KB - peak:.0f} free" if peak <= SRAM_KB else f"over by {peak - SRAM_KB:.1f}"
        lines.append(
            f"| {r['what']} | {'x'.join(map(str, r['input_shape']))} | "
            f"{d['ram_bytes'] / 1024:.1f} + {d['stack_bytes'] / 1024:.1f} = {peak:.1f} ({fits}) | "
            f"{d['flash_bytes'] / 1024:.1f} | {d['instructions_per_step'] / 1e6:.1f} M | "
            f"{'bit for bit' if d['device_equals_host'] else 'NO'} ({d['steps']} steps) | "
            f"{'yes' if d['tvm_equals_c'] else 'NO'} ({d['tvm_vs_c_values_apart']} of {d['tvm_vs_c_values']} "
            f"int8 values differ) | {'within' if o['agrees'] else 'OUTSIDE'} tolerance: loss {o['loss_max_rel']:.1g}, "
            f"gradients {o['grad_max_rel']:.1g} rel, updated int8 {o['int_max_diff']} LSB | "
            f"{torch_vs_onnx(r)} | {100 * a['before']:.1f} -> {100 * a['after']:.1f} |")
    for name in missing:
        lines.append(f"| {name} | not run | | | | | | | | |")
    return "\n".join(lines)


def torch_vs_onnx(r: dict) -> str:
    if r["torch_onnx_losses_equal"] and r["same_quantization"]:
        return "yes (same int8 graph)"
    g = r["torch_vs_onnx_graph"]
    if not g["same_layout"]:
        return "NO (another layer layout)"
    return (f"{'yes' if r['torch_onnx_losses_equal'] else 'NO'}: {g['int_values_apart']} int values apart, "
            f"{g['float_values_apart']} float scales within {g['float_max_rel']:.0e} rel")


def write_outputs(results: list[dict], missing: list[str], out: Path, zoo: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = (zoo_table if zoo else table)(results, missing)
    (out / "results.md").write_text(text + "\n")
    if results and zoo:
        zoo_plot(results, out / "model_zoo.png")
    elif results:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        pos = np.arange(len(results))
        before = [100 * r["accuracy"]["torch"]["before"] for r in results]
        after = [100 * r["accuracy"]["torch"]["after"] for r in results]
        ax.bar(pos - 0.2, before, 0.4, label="before (int8, new classes untrained)")
        ax.bar(pos + 0.2, after, 0.4, label=f"after {SCHEME} on the host C, --lr auto")
        ax.set_xticks(pos, [r["model"] for r in results], fontsize=8)
        ax.set_ylabel("test accuracy, all classes (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "user_models.png", dpi=120)
        plt.close(fig)
    print(text)


def zoo_plot(results: list[dict], path: Path):
    """Accuracy before/after, and peak SRAM / flash as fractions of the Cortex-M7's budget."""
    import matplotlib.pyplot as plt

    fig, (acc, mem) = plt.subplots(1, 2, figsize=(10, 3.8))
    pos, names = np.arange(len(results)), [r["model"] for r in results]
    for ax, series, unit in (
            (acc, [("before (int8, new classes untrained)", [100 * r["accuracy"]["torch"]["before"] for r in results]),
                   (f"after {SCHEME} on the host C", [100 * r["accuracy"]["torch"]["after"] for r in results])],
             "test accuracy, all classes (%)"),
            (mem, [(f"peak SRAM / {SRAM_KB} KB", [100 * (r["device"]["ram_bytes"] + r["device"]["stack_bytes"])
                                                    / 1024 / SRAM_KB for r in results]),
                   (f"flash / {FLASH_KB} KB", [100 * r["device"]["flash_bytes"] / 1024 / FLASH_KB for r in results])],
             "% of the Cortex-M7's budget")):
        for i, (label, values) in enumerate(series):
            ax.bar(pos + (i - 0.5) * 0.4, values, 0.4, label=label)
        ax.set_xticks(pos, names, fontsize=7, rotation=20)
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
    mem.axhline(100, color="k", lw=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zoo", action="store_true", help="the tinyML model zoo (ZOO) instead of the five user models")
    ap.add_argument("--models", nargs="+", help="a subset of the set's models (default: all)")
    ap.add_argument("--quick", action="store_true", help="a tiny budget (smoke test)")
    ap.add_argument("--redo", action="store_true", help="rerun models that have results")
    ap.add_argument("--work", type=Path, help=f"default {WORK} ({ZOO_WORK} with --zoo)")
    ap.add_argument("--results", type=Path, help=f"default {RESULTS} ({ZOO_RESULTS} with --zoo; WORK/quick with "
                                                 f"--quick: the committed results are never mixed with a tiny "
                                                 f"budget's)")
    a = ap.parse_args(argv)
    cases = ZOO if a.zoo else CASES
    a.models = a.models or [c.name for c in cases]
    if set(a.models) - {c.name for c in cases}:
        ap.error(f"--models: {', '.join(sorted(set(a.models) - {c.name for c in cases}))} not in this set; "
                 f"choose from {', '.join(c.name for c in cases)}")
    a.work = a.work or (ZOO_WORK if a.zoo else WORK)
    a.results = a.results or (a.work / "quick" if a.quick else ZOO_RESULTS if a.zoo else RESULTS)
    a.results.mkdir(parents=True, exist_ok=True)
    a.work.mkdir(parents=True, exist_ok=True)
    budget = QUICK if a.quick else FULL
    for case in tqdm([c for c in cases if c.name in a.models], desc="models"):
        path = a.results / f"{case.name}.json"
        if path.exists() and not a.redo:
            continue
        path.write_text(json.dumps(run_case(case, budget, a.work), indent=1) + "\n")
    results = [json.loads((a.results / f"{c.name}.json").read_text()) for c in cases
               if (a.results / f"{c.name}.json").exists()]
    write_outputs(results, [c.name for c in cases if not (a.results / f"{c.name}.json").exists()], a.results,
                  zoo=a.zoo)
    return results


if __name__ == "__main__":
    main()
