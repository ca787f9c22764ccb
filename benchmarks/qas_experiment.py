"""The QAS result on real data: fine-tuning an int8 ImageNet backbone on CIFAR-10 (or Fashion-MNIST), or
the project's keyword-spotting CNN on Speech Commands, updating the last two blocks (`last-2`), several
ways with the same schedule, data and seeds:

  fp32              fp32 SGD on the dequantized weights (PyTorch, tvm_tinytrain/float_model.py)
  int8              int8 SGD in the generated C, no Quantization-Aware Scaling (scheme qas=false),
                    int8 classifier, no momentum
  int8+QAS          int8 SGD in the generated C with QAS (the product's default)
  int8-paper        the paper's int8 baseline (its code's `sgd` optimizer, no QAS): momentum 0.9
                    and a float32 classifier, the rest as int8
  int8+QAS-paper    the paper's QAS run (`sgd_scale`): QAS, momentum 0.9, a float32 classifier
  int8+QAS-paper-fcopy   the same with the paper's float32 copy of the trained int8 / int32 values
                    (scheme float_copy: the update moves the copy, the forward uses it rounded)
  int8-paper-nomom, int8+QAS-paper-nomom   the same without momentum (`sgd_nomom`, `sgd_scale_nomom`:
                    the optimizers of the paper's memory-bound main results)
  int8+QAS-paper-nomom-fcopy   `sgd_scale_nomom` with the float copy
  fp32-paper        fp32 SGD with momentum 0.9

The paper's figures (MCUNet, an average over its transfer datasets): 86.0 / 75.4 / 86.9.  What
its released code does for each (mit-han-lab/tiny-training, algorithm/) is in docs/results.md.
Without QAS the updates of an int8 tensor are off by its scale squared, differently per layer,
so one learning rate cannot suit them all; `--lrs int8=0.005,5` runs a variant at several rates
(the best is the fair comparison; the paper grid-searched its rates too).  Runs already in the
output's summary.json (same setup) are kept.  Differences from the paper's setup, all for time
on a 2-core machine: a class-balanced subset of CIFAR-10 (default 100 training images per
class, 100 test images per class; `--train-per-class 5000 --test-per-class 1000` is all of it, 2.8 GB
of int8 inputs in each worker), a few epochs, batch 1 (the device trains one sample at a
time; the paper simulated batches of 64), no augmentation.  Like the paper: 128x128 inputs
(CIFAR's 32x32 upsampled), one learning rate for every tensor, cosine schedule with warm-up.

`--data fashion-mnist` fine-tunes the same backbones on Fashion-MNIST (gray 28x28, repeated to RGB and
upsampled like CIFAR).  `--model kws --data speech-commands` is the project's KWS CNN pretrained on 8
Speech Commands words with a new 12-class head, built as benchmarks/kws_finetune.py builds it (run
`python -m benchmarks.kws_pretrain` first); its fp32 variants train the float model of that int8 graph,
as for the backbones.  `--train-per-class all --test-per-class all` takes every sample.

    python -m benchmarks.qas_experiment [--model mcunet-5fps] [--data cifar10] [--train-per-class 100]
        [--epochs 5] [--seeds 0 1 2] [--variants int8 int8-paper] [--lrs int8=0.005,5 int8-paper=0.0004]

writes summary.json, results.md (mean and standard error over the seeds) and qas.png into --out
(default out/qas_<model>/ on CIFAR-10, out/qas_<model>_<data>/ otherwise).  The data set is part of the
setup: runs of different data never share a summary.  `--body-changes --variants int8-paper int8+QAS-paper --lrs ...` instead
counts the int8 weights and int32 biases below the classifier that one epoch at each variant's first
rate changes: whether a variant trains the body at all.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

PAPER_MOMENTUM = 0.9  # the paper's code: algorithm/core/optimizer/optimizer_entry.py, 'sgd' and 'sgd_scale'


@dataclass(frozen=True)
class Variant:
    """How one variant trains: which engine, and the scheme settings it overrides."""
    label: str
    engine: str                  # "fp32": FloatEngine (PyTorch); "c": the generated C on the host
    qas: bool = True
    fp32_classifier: bool = False
    momentum: float = 0.0
    float_copy: bool = False


VARIANTS = {
    "fp32": Variant("fp32 SGD on the dequantized weights (PyTorch)", "fp32"),
    "int8": Variant("int8 SGD, no QAS (ours: int8 classifier, no momentum)", "c", qas=False),
    "int8+QAS": Variant("int8 SGD + QAS (the product's default)", "c"),
    "int8-paper": Variant("int8 SGD-M, no QAS, fp32 classifier (the paper's baseline)", "c", qas=False,
                          fp32_classifier=True, momentum=PAPER_MOMENTUM),
    "int8+QAS-paper": Variant("int8 SGD-M + QAS, fp32 classifier (the paper's QAS run)", "c",
                              fp32_classifier=True, momentum=PAPER_MOMENTUM),
    "int8+QAS-paper-fcopy": Variant("int8 SGD-M + QAS, fp32 classifier, float32 copy of the trained integers "
                                    "(the paper's QAS run with its float copy)", "c", fp32_classifier=True,
                                    momentum=PAPER_MOMENTUM, float_copy=True),
    "int8-paper-nomom": Variant("int8 SGD, no QAS, fp32 classifier (the paper's `sgd_nomom`)", "c", qas=False,
                                fp32_classifier=True),
    "int8+QAS-paper-nomom": Variant("int8 SGD + QAS, fp32 classifier (the paper's `sgd_scale_nomom`)", "c",
                                    fp32_classifier=True),
    "int8+QAS-paper-nomom-fcopy": Variant("int8 SGD + QAS, fp32 classifier, float32 copy of the trained integers "
                                          "(the paper's `sgd_scale_nomom` with its float copy)", "c",
                                          fp32_classifier=True, float_copy=True),
    "fp32-paper": Variant("fp32 SGD-M (PyTorch)", "fp32", momentum=PAPER_MOMENTUM),
}
DEFAULT_VARIANTS = ("fp32", "int8", "int8+QAS")
PAPER = {"mcunet-5fps": {"fp32-paper": 86.0, "int8-paper": 75.4, "int8+QAS-paper": 86.9}}
KWS_MODEL = "kws"  # benchmarks/kws_pretrain.py's KWS CNN, pretrained on 8 words, with a new 12-class head
DATA = {"cifar10": "CIFAR-10", "fashion-mnist": "Fashion-MNIST",  # --data: its name in the tables
        "speech-commands": "Speech Commands v0.02 test set split by speaker"}


def variant_scheme(name: str, spec, graph, lr: float):
    """The resolved scheme variant `name` trains with: `spec` at learning rate `lr` for every tensor
    (the paper's code too has one rate for weights, biases and classifier), plus the variant's settings."""
    from tvm_tinytrain.schemes import resolve_scheme

    v = VARIANTS[name]
    return resolve_scheme(spec, graph, lr_weight=lr, lr_bias=lr, qas=v.qas, fp32_classifier=v.fp32_classifier,
                          momentum=v.momentum, float_copy=v.float_copy)


def make_engine(name: str, graph, scheme):
    from tvm_tinytrain.compiler import compile
    from tvm_tinytrain.training.engines import CEngine, FloatEngine

    return FloatEngine(graph, scheme) if VARIANTS[name].engine == "fp32" else CEngine(compile(graph, scheme).program)


def check_model_data(model: str, data: str):
    """Refuse a --model / --data pair that cannot work: the KWS net hears log-mel clips, a backbone sees images."""
    if model == KWS_MODEL and data != "speech-commands":
        raise SystemExit(f"--model {KWS_MODEL} --data {data}: the KWS CNN takes 1-second log-mel clips; use "
                         f"--data speech-commands (or an image backbone such as --model mcunet-5fps for {data})")
    if model != KWS_MODEL and data == "speech-commands":
        raise SystemExit(f"--model {model} --data speech-commands: speech commands are audio clips and {model} "
                         f"takes images; use --model {KWS_MODEL} for speech-commands")


def load_task(model: str, data: str, train_per_class, test_per_class, seed: int):
    """(the data set, the int8 graph to fine-tune on it with a new head drawn by `seed`); a per-class
    count of None takes every sample."""
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.data.datasets import load_dataset

    if model == KWS_MODEL:
        from benchmarks.kws_pretrain import finetune_graph

        graph = finetune_graph(seed=seed)  # 12 classes in Speech Commands' order, the loader's order too
        shape = tuple(graph.input_shape)
    else:
        graph, shape = None, tuple(load_backbone(model).input_shape)
    dataset = load_dataset(data, shape, train_per_class=train_per_class, test_per_class=test_per_class, seed=seed,
                           progress=False)
    return dataset, graph or load_backbone(model, num_classes=len(dataset.classes), seed=seed)


def run_variant(variant: str, lr: float, seed: int, args: dict) -> dict:
    import torch

    from tvm_tinytrain.training.fit import fit

    torch.set_num_threads(1)
    t0 = time.time()
    data, graph = load_task(args["model"], args["data"], args["train_per_class"], args["test_per_class"], seed)
    scheme = variant_scheme(variant, args["scheme"], graph, lr)
    with make_engine(variant, graph, scheme) as engine:
        hist = fit(engine, scheme, data, args["epochs"], warmup_epochs=args["warmup_epochs"], seed=seed,
                   progress=False, eval_before=True)
    return {"variant": variant, "lr": lr, "seed": seed, "scheme": scheme.name, "accuracy": hist.final_accuracy,
            "initial_accuracy": hist.initial_accuracy, "epochs": hist.epochs,
            "losses": hist.losses, "seconds": round(time.time() - t0, 1), "n_train": int(len(data.train_x)),
            "n_test": int(len(data.test_x)), "input_shape": [int(s) for s in graph.input_shape]}


def body_changes(variant: str, model: str, data_name: str, scheme_spec, lr: float,
                 images_per_class: int = 100) -> dict:
    """Per trained int8/int32 tensor below the classifier: how many values one epoch at the constant
    rate `lr` changes, and the largest change in units, i.e. whether the variant trains the body at all."""
    import numpy as np

    from tvm_tinytrain.scheme import is_state

    data, graph = load_task(model, data_name, images_per_class, 1, seed=0)
    with make_engine(variant, graph, variant_scheme(variant, scheme_spec, graph, lr)) as engine:
        before = engine.params()
        for i in np.random.default_rng(0).permutation(len(data.train_x)):
            engine.train(data.train_x[i], int(data.train_y[i]))
        after = engine.params()
    changes = {}
    for name in sorted(before):
        if not is_state(name) and not name.startswith(graph.output + "."):
            d = np.abs(after[name].astype(np.int64) - before[name].astype(np.int64))
            changes[name] = {"changed": int(np.count_nonzero(d)), "size": int(d.size), "max_units": int(d.max())}
    return changes


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def grouped(rows) -> dict:
    """(variant, lr) -> its rows (one per seed), in variant table order then rate."""
    groups = {}
    for r in sorted(rows, key=lambda r: (list(VARIANTS).index(r["variant"]), r["lr"], r["seed"])):
        groups.setdefault((r["variant"], r["lr"]), []).append(r)
    return groups


def write_outputs(summary: dict, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    cfg, groups = summary["config"], grouped(summary["results"])
    paper = PAPER.get(cfg["model"], {})
    lines = ["| variant | | lr | test accuracy (%) | seeds | before fine-tuning (%) | paper (%) | minutes per run |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (name, lr), rs in groups.items():
        acc, se = mean_se([100 * r["accuracy"] for r in rs])
        before, _ = mean_se([100 * r["initial_accuracy"] for r in rs])
        minutes = sum(r["seconds"] for r in rs) / len(rs) / 60
        spread = f" ± {se:.1f}" if len(rs) > 1 else ""  # one seed has no standard error
        lines.append(f"| {name} | {VARIANTS[name].label} | {lr:g} | {acc:.1f}{spread} | {len(rs)} | {before:.1f} | "
                     f"{paper.get(name, '')} | {minutes:.1f} |")
    setup = (f"{cfg['model']}, scheme {cfg['scheme']}, {data_setup(cfg, summary['results'])}, {cfg['epochs']} "
             f"epochs, batch 1, cosine with {cfg['warmup_epochs']:g} warm-up epoch(s); mean ± standard error over seeds")
    (out / "results.md").write_text(f"{setup}\n\n" + "\n".join(lines) + "\n")
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.6))
    for ax in (a, b):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # one colour per (variant, rate): up to 20 lines
    for (name, lr), rs in groups.items():
        epochs = [e["epoch"] for e in rs[0]["epochs"]]
        accs = [mean_se([100 * r["initial_accuracy"] for r in rs])[0]] + \
               [mean_se([100 * r["epochs"][i]["test_accuracy"] for r in rs])[0] for i in range(len(epochs))]
        losses = [mean_se([r["epochs"][i]["loss"] for r in rs])[0] for i in range(len(epochs))]
        a.plot([0] + epochs, accs, marker="o", label=f"{name} (lr {lr:g})")
        b.plot(epochs, losses, marker="o", label=f"{name} (lr {lr:g})")
    a.set_xlabel("epoch"), a.set_ylabel("test accuracy (%), mean over seeds")
    a.set_title("held-out accuracy")
    b.set_xlabel("epoch"), b.set_ylabel("mean training loss"), b.set_title("training loss")
    b.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(setup, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "qas.png", dpi=120)
    plt.close(fig)
    print("\n".join([setup, ""] + lines))


def data_setup(cfg: dict, rows) -> str:
    """e.g. `CIFAR-10, 100 train + 100 test per class (1000 / 1000) at 3x128x128`."""
    def amount(n):
        return "all" if n is None else f"{n} per class"

    text = f"{DATA[cfg['data']]}, {amount(cfg['train_per_class'])} train + {amount(cfg['test_per_class'])} test"
    sized = [r for r in rows if "n_train" in r]  # rows of runs before these were recorded have no sizes
    if sized:
        text += f" ({sized[0]['n_train']} / {sized[0]['n_test']}) at {'x'.join(map(str, sized[0]['input_shape']))}"
    return text


def per_class(text: str):
    """--train-per-class / --test-per-class: a positive number of samples per class, or `all` (None)."""
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of samples per class, or all")
    return int(text)


def previous_runs(out: Path, cfg: dict) -> list:
    """The runs already in out/summary.json if its setup is `cfg`, else none (a summary written before
    --data existed has no data set in its setup: it is CIFAR-10's)."""
    path = out / "summary.json"
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    return old["results"] if {"data": "cifar10", **old["config"]} == cfg else []


def parse_lrs(items, default: float) -> dict:
    """`--lrs NAME=LR[,LR...]` -> {variant: [rates]}; a variant not named runs at `default`."""
    rates = {name: [default] for name in VARIANTS}
    for item in items or ():
        name, _, values = item.partition("=")
        if name not in VARIANTS or not values:
            raise SystemExit(f"--lrs {item!r}: expected VARIANT=LR[,LR...] with VARIANT one of {', '.join(VARIANTS)}")
        try:
            rates[name] = [float(v) for v in values.split(",")]
        except ValueError:
            raise SystemExit(f"--lrs {item!r}: the rates must be numbers, e.g. int8=0.005,5") from None
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mcunet-5fps", help=f"a paper backbone, or {KWS_MODEL} (speech-commands)")
    parser.add_argument("--data", default="cifar10", choices=list(DATA))
    parser.add_argument("--scheme", default="last-2")
    parser.add_argument("--train-per-class", type=per_class, default=100, help="a number, or all")
    parser.add_argument("--test-per-class", type=per_class, default=100, help="a number, or all")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.005, help="learning rate of a variant --lrs does not name")
    parser.add_argument("--lrs", nargs="+", default=None, metavar="VARIANT=LR[,LR...]",
                        help="learning rates of a variant, e.g. int8=0.005,5")
    parser.add_argument("--warmup-epochs", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="each seed draws the data subset, its order and the new head")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--body-changes", action="store_true",
                        help="instead: count the body's values each variant changes in one epoch at its first rate")
    a = parser.parse_args(argv)
    check_model_data(a.model, a.data)
    cfg = {k: getattr(a, k) for k in ("model", "data", "scheme", "train_per_class", "test_per_class", "epochs",
                                      "warmup_epochs")}
    out = Path(a.out or (f"out/qas_{a.model}" if a.data == "cifar10" else f"out/qas_{a.model}_{a.data}"))
    rates = parse_lrs(a.lrs, a.lr)
    if a.body_changes:
        for v in a.variants:
            for layer, c in body_changes(v, a.model, a.data, a.scheme, rates[v][0], a.train_per_class).items():
                print(f"{v} (lr {rates[v][0]:g}) {layer}: {c['changed']} of {c['size']} changed, "
                      f"at most {c['max_units']} units", flush=True)
        return
    jobs = [(v, lr, seed) for v in a.variants for lr in rates[v] for seed in a.seeds]
    rows = previous_runs(out, cfg)
    done = {(r["variant"], r["lr"], r["seed"]) for r in rows}
    with ProcessPoolExecutor(a.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_variant, v, lr, seed, cfg) for v, lr, seed in jobs if (v, lr, seed) not in done]
        for f in futures:
            rows.append(f.result())
            r = rows[-1]
            print(f"{r['variant']} lr {r['lr']:g} seed {r['seed']}: {100 * r['accuracy']:.1f}% "
                  f"({r['seconds']:.0f} s)", flush=True)
            write_outputs({"config": cfg, "results": rows}, out)


if __name__ == "__main__":
    main()
