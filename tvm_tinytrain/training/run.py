"""One training run end to end, as `tvm-tinytrain train` does it: data, model with a head for
the data's classes, scheme, optional checkpoint to start from, the engine (the generated C on
this host or on a board under QEMU, or the fp32 baseline), the epoch loop, then the outputs:
checkpoint.npz, history.json and loss.png in the output folder (and lr_range.png with `--lr auto`,
whose range test runs on the host build of the same C before training: lr_range.py).

Everything certain to be refused (bad numbers, an output folder that cannot be written or holds
files this program did not write, a folder another run is using) is refused before any data is
loaded or any code built. The three outputs are replaced as one set (outputs.write_owned): a
kill at any moment leaves every file the previous run's or this run's, and history.json names
the checkpoint it belongs to (checkpoint_sha256), so a mixed set is detectable."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import numbers
import os
import tempfile
import time
from pathlib import Path

from ..errors import TinyTrainError
from ..outputs import (MANIFEST, TEMP_PREFIX, check_out_folder, check_owned, digest, output_lock, remove_stale_temps,
                       write_owned)
from .checkpoint import apply_checkpoint, check_quantization, load_checkpoint, save_checkpoint
from .engines import HOST, CEngine, FloatEngine
from .fit import fit

OUTPUTS = ("checkpoint.npz", "history.json", "loss.png", "lr_range.png")  # replaced in this order


def check_settings(epochs, warmup_epochs=0.0, lr_weight=None, lr_bias=None, train_per_class=None,
                   test_per_class=None, engine="c", target=HOST, init=None):
    """Numbers and combinations that no run can use, refused before anything is loaded."""
    if engine not in ("c", "fp32"):
        raise TinyTrainError(f"engine {engine!r}: use 'c' (the generated C) or 'fp32' (the PyTorch fp32 baseline)")
    if engine == "fp32" and (target != HOST or init):
        raise TinyTrainError("the fp32 engine runs on this host only and cannot start from an int8 checkpoint")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise TinyTrainError(f"--epochs {epochs}: give a whole number of epochs, at least 1")
    for flag, n in (("--train-per-class", train_per_class), ("--test-per-class", test_per_class)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
            raise TinyTrainError(f"{flag} {n}: give at least 1 sample per class (or leave it out for all)")
    if not (isinstance(warmup_epochs, numbers.Real) and math.isfinite(warmup_epochs) and warmup_epochs >= 0):
        raise TinyTrainError(f"--warmup-epochs {warmup_epochs}: give a number of epochs >= 0")
    for flag, lr in (("--lr-weight", lr_weight), ("--lr-bias", lr_bias)):
        if lr is not None and not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
            raise TinyTrainError(f"{flag} {lr}: a learning rate must be a finite number > 0")


def check_project_dir(project: Path, target: str):
    """The project folder inside --out is the program's: refuse one holding a user's files."""
    if not os.path.lexists(project):
        return
    from ..codegen.emit import check_project_folder

    if project.is_dir() and any(project.iterdir()) and not (project / MANIFEST).exists():
        present = sorted(p.name for p in project.iterdir())
        raise TinyTrainError(f"--out: {project} holds files tvm-tinytrain did not write ({', '.join(present[:4])}); "
                             f"the project folder inside --out is the program's: move them away or choose another "
                             f"--out")
    check_project_folder(project, force=True, target=target)


@contextlib.contextmanager
def claim_out(out, force: bool, target: str = HOST):
    """Check --out whole and hold its lock for the run (see the module's docstring)."""
    out = check_out_folder(out)
    check_project_dir(out / "project", target)
    with output_lock(out):
        remove_stale_temps(out, OUTPUTS)
        clash = [name for name in OUTPUTS if (out / name).exists()]
        if clash and not force:
            raise TinyTrainError(f"{out} already holds {', '.join(clash)} from another run; choose a new --out "
                                 f"or pass --force to overwrite them")
        check_owned(out, OUTPUTS, what=f"--out {out}")
        check_project_dir(out / "project", target)
        yield out


def train(model: str, scheme_spec, data_spec: str, epochs: int, out, *, target: str = HOST,
          engine: str = "c", lr_weight: float | None = None, lr_bias: float | None = None,
          warmup_epochs: float = 0.0, train_per_class: int | None = None, test_per_class: int | None = None,
          seed: int = 0, init: str | None = None, force: bool = False, progress: bool = True, log=print,
          lr: float | str | None = None, calibration: int | None = None, overrides: dict | None = None) -> dict:
    """`lr` sets both rates: a number, or "auto" for a learning-rate range test (lr_range.py).
    `calibration`: samples that quantize an fp32 model (default CALIBRATION).  `overrides`: the
    scheme's other settings to override (qas, fp32_classifier, momentum: options.py)."""
    from ..quantization.calibration import check_calibration

    lr_weight, lr_bias, auto = learning_rates(lr, lr_weight, lr_bias)
    if calibration is not None:
        check_calibration(calibration)
    check_settings(epochs, warmup_epochs, lr_weight, lr_bias, train_per_class, test_per_class, engine, target, init)
    if init:
        load_checkpoint(init)  # a bad --init is refused before any work (it is read again where it is applied)
    with claim_out(out, force, target) as out:
        return _train(model, scheme_spec, data_spec, epochs, out, target=target, engine=engine, lr_weight=lr_weight,
                      lr_bias=lr_bias, warmup_epochs=warmup_epochs, train_per_class=train_per_class,
                      test_per_class=test_per_class, seed=seed, init=init, progress=progress, log=log, auto=auto,
                      calibration=calibration, overrides=overrides or {})


def learning_rates(lr, lr_weight, lr_bias) -> tuple:
    """(lr_weight, lr_bias, auto) from --lr and --lr-weight / --lr-bias (--lr sets both)."""
    if lr is None:
        return lr_weight, lr_bias, False
    if lr_weight is not None or lr_bias is not None:
        raise TinyTrainError(f"--lr {lr} sets both learning rates: give --lr, or --lr-weight / --lr-bias, not both")
    if lr == "auto":
        return None, None, True
    if isinstance(lr, str):
        try:
            lr = float(lr)
        except ValueError:
            raise TinyTrainError(f"--lr {lr}: give a learning rate (a number > 0) or 'auto' (a range test chooses "
                                 f"it)") from None
    if isinstance(lr, bool) or not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
        raise TinyTrainError(f"--lr {lr}: a learning rate must be a finite number > 0, or 'auto'")
    return lr, lr, False


def _train(model, scheme_spec, data_spec, epochs, out: Path, *, target, engine, lr_weight, lr_bias, warmup_epochs,
           train_per_class, test_per_class, seed, init, progress, log, auto=False, calibration=None,
           overrides=None) -> dict:
    from ..data.datasets import check_loss, load_dataset
    from ..graph_file import is_graph_file, quantization_hash
    from ..model_spec import load_model
    from ..compiler import compile
    from ..schemes import resolve_scheme

    t0 = time.time()
    shape = tuple(load_model(model).input_shape)
    data = load_dataset(data_spec, shape, train_per_class=train_per_class, test_per_class=test_per_class, seed=seed)
    regression = data.targets is not None  # float targets: the model keeps its output, whatever the classes
    graph = load_model(model, num_classes=None if regression else len(data.classes))
    if not regression and graph.num_classes != len(data.classes):
        raise TinyTrainError(f"{model} has {graph.num_classes} outputs but {data_spec} has {len(data.classes)} classes "
                             f"({', '.join(data.classes[:6])}{', ...' if len(data.classes) > 6 else ''}); give the "
                             f"model a head of that size, or choose classes with {data_spec.split(':')[0]}:classes=...")
    fixed = graph.quantized and not is_graph_file(model)  # a paper backbone: one int8 graph, ever
    if not graph.quantized:
        graph = _quantize(graph, data_spec, calibration, log)
    quantization = quantization_hash(graph)
    scheme = resolve_scheme(scheme_spec, graph, lr_weight=lr_weight, lr_bias=lr_bias, **(overrides or {}))
    check_loss(data, scheme.loss, graph.num_classes)
    if auto and scheme.loss == "mse":
        raise TinyTrainError("--lr auto: the learning-rate range test measures the cross-entropy loss only; give "
                             "--lr (e.g. --lr 1e-3) with --loss mse")
    program = lr_test = None
    if engine == "c" or auto:
        program = compile(graph, scheme).program
        if init:
            params, meta = load_checkpoint(init)
            fresh = apply_checkpoint(program, params, where=f"checkpoint {init}")  # another model: names, shapes
            check_quantization(meta, quantization, f"checkpoint {init}", fixed, log)  # the same, other scales
            log(f"starting from {init} ({meta.get('model')}, scheme {meta.get('scheme')})")
            if fresh:
                log(f"  {init} has no optimizer state for this scheme ({len(fresh)} tensors, e.g. {fresh[0]}): it "
                    f"starts at its start value for the checkpoint's weights (velocity zero, float copy = the weights)")
    if auto:
        from .lr_range import range_test

        lr_test = range_test(program, data, seed=seed)
        log(lr_test.summary())
        scheme = dataclasses.replace(scheme, lr_weight=lr_test.chosen, lr_bias=lr_test.chosen)
        program = dataclasses.replace(program, scheme=scheme)  # the rates are inputs of main: same module
    head = f"{graph.num_classes} outputs, MSE loss" if regression else f"{len(data.classes)}-class head"
    log(f"{graph.name} ({head}), scheme {scheme.name}, data {data_spec}: "
        f"{len(data.train_x)} training / {len(data.test_x)} test samples, {epochs} epoch(s), "
        f"lr {scheme.lr_weight:g} (weights) / {scheme.lr_bias:g} (biases), cosine with {warmup_epochs:g} warm-up epoch(s)")

    def on_epoch(e):
        log(f"epoch {e['epoch']}/{epochs}: loss {e['loss']:.4f}, {_score(e.get('test_accuracy'), e.get('test_error'))} "
            f"({e['seconds']:.0f} s)")

    if engine == "fp32":
        runner = FloatEngine(graph, scheme)
    else:
        runner = CEngine(program, target=target, workdir=out / "project")
    with runner:
        hist = fit(runner, scheme, data, epochs, warmup_epochs=warmup_epochs, seed=seed, progress=progress,
                   eval_before=True, on_epoch=on_epoch)
        params = runner.params()
    error = runner.error()  # tt_error() arrives when the program has ended
    if error:
        raise TinyTrainError(f"the generated program reported tt_error() = {error} during training")
    device = runner.footprint()  # a board: peak SRAM and flash against its budgets, as the demo prints them
    if device:
        from ..targets.footprint import format_footprint

        log(format_footprint(device))
    meta = {"model": graph.name, "scheme": scheme.name, "data": data_spec, "epochs": epochs, "engine": engine,
            "target": target, "seed": seed, "classes": list(data.classes), "quantization": quantization,
            "loss": scheme.loss, f"test_{hist.metric}": hist.final, f"initial_{hist.metric}": hist.initial}
    summary = {**meta, "seconds": round(time.time() - t0, 1), "history": hist.to_json(),
               "lr_weight": scheme.lr_weight, "lr_bias": scheme.lr_bias}
    if lr_test:
        summary["lr_range"] = lr_test.to_json()
    if hist.instructions:
        summary["instructions_per_step"] = sum(hist.instructions) / len(hist.instructions)
    if device:
        summary["device_memory"] = device
    title = f"{graph.name} / {scheme.name} on {data_spec}"
    summary = write_results(out, params if engine == "c" else None, meta, summary,
                            plot_losses(hist, title, scheme.loss), lr_test.plot(f"range test: {title}") if lr_test else None)
    before = f"{hist.initial:.4f}" if regression else f"{100 * (hist.initial or 0):.1f}%"
    after = f"{hist.final:.4f}" if regression else f"{100 * hist.final:.1f}%"
    log(f"{'test reconstruction error (MSE)' if regression else 'test accuracy'} {before} -> {after}; "
        f"wrote {', '.join(str(out / n) for n in OUTPUTS if (out / n).exists())}")
    return summary


def _score(accuracy, error) -> str:
    """An epoch's held-out figure: accuracy, or the mean reconstruction error of the MSE loss."""
    return f"test accuracy {100 * accuracy:.1f}%" if error is None else f"test reconstruction error (MSE) {error:.4f}"


def write_results(out: Path, params: dict | None, meta: dict, summary: dict, png: bytes,
                  lr_png: bytes | None = None) -> dict:
    """checkpoint.npz (if `params`), history.json, loss.png and lr_range.png (if `lr_png`), replaced
    as one set (the module's docstring); returns the summary as written, with the checkpoint's sha256."""
    files = {}
    if params is not None:
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, suffix=".tmp", dir=out) as tmp:
            files["checkpoint.npz"] = save_checkpoint(Path(tmp) / "checkpoint.npz", params, meta).read_bytes()
    summary = {**summary, "checkpoint_sha256": digest(files["checkpoint.npz"]) if files else None}
    files["history.json"] = json.dumps(summary, indent=1).encode()
    files["loss.png"] = png
    if lr_png is not None:
        files["lr_range.png"] = lr_png
    write_owned(out, files, what=f"--out {out}")
    return summary


def _quantize(graph, data_spec, calibration, log):
    """An fp32 model (torch / ONNX) becomes int8 here, on the fixed calibration draw of the data
    (quantization/calibration.py: the same int8 graph whatever --seed or --train-per-class), so
    train takes any supported model."""
    from ..quantization.calibration import quantize_on_data

    return quantize_on_data(graph, data_spec, calibration, log=log)


def plot_losses(hist, title: str, loss: str = "cross_entropy") -> bytes:
    """The loss curve (every step and a running mean) as PNG bytes, with the held-out
    reconstruction error after each epoch beside it for the MSE loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.5))
    losses = np.asarray(hist.losses)
    window = max(1, min(len(losses) // 4, max(5, len(losses) // 20)))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(losses, alpha=0.25, label="per step")
    ax.plot(np.arange(len(smooth)) + window - 1, smooth, label=f"mean of {window}")
    ax.set_xlabel("training step")
    ax.set_ylabel("MSE loss (training sample)" if loss == "mse" else "cross-entropy loss")
    if hist.metric == "error" and hist.epochs:
        steps = np.cumsum([0] + [len(losses) // len(hist.epochs)] * len(hist.epochs))
        ax.plot(steps, [hist.initial, *(e["test_error"] for e in hist.epochs)], "o-",
                label="held-out reconstruction error")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()
