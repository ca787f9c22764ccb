"""PTQ agreement: does the int8 graph compute what the fp32 model computes, on real images?

For two models, MobileNetV2-w0.35 (the zoo's structure) and TinyResNet (a structure the
int8 zoo does not have), and for both import paths (torch: `from_torch`; ONNX:
`torch.onnx.export(dynamo=True)` then `from_onnx`), this benchmark measures:

* fp32 accuracy of the torch model and int8 accuracy of the TVM-built int8 module on
  CIFAR-10 test images;
* top-1 agreement: the fraction of test images where the int8 module and the fp32 model
  predict the same class (the figure that says what post-training quantization costs);
* bit-exactness: the TVM int8 logits against the numpy oracle (`reference.run_int8`) on
  every evaluated image; the number of images whose logits differ must be 0.

Random-weight models would make agreement meaningless (their predictions are noise
that any rounding flips), so each model is first trained briefly on CIFAR-10 with
torch: SGD with momentum, cosine learning rate, random crop + flip, seeded.  Both
models run at 32x32: MobileNetV2-w0.35 is the paper's 128x128 backbone, but its torch
model ends in an adaptive average pool, so it is trained and imported at 32x32.

The int8 graph is calibrated on 64 training images (never on test images).

    python -m benchmarks.ptq_agreement [--out DIR] [--quick]

writes summary.json, results.md and ptq_agreement.png into DIR (default
out/ptq_agreement/); other files in DIR are left alone.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

MODELS = ("tinyresnet", "mbv2")
PATHS = ("torch", "onnx")
MODEL_TITLES = {"tinyresnet": "TinyResNet", "mbv2": "MobileNetV2-w0.35"}
INPUT_SIZE = 32
OUTPUT_FILES = ("summary.json", "results.md", "ptq_agreement.png")

# (default, --quick) for the settings --quick shrinks
SIZES = {"epochs": (4, 2), "train_per_class": (1000, 100), "test_per_class": (100, 20)}


@dataclass
class TrainSettings:
    epochs: int
    train_per_class: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    augmentation: str
    seed: int
    input_size: int


@dataclass
class Row:
    model: str
    import_path: str
    fp32_acc: float
    int8_acc: float
    agreement: float
    bit_exact_mismatches: int
    n_test: int
    n_calibration: int
    train: dict
    train_seconds: float


# ----------------------------------------------------------------------------- data

def load_split(split: str, per_class: int):
    """(float inputs (N, 3, 32, 32) in (p - 127.5) / 127.5, int64 labels) of CIFAR-10."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import to_float_input

    images, labels = load_cifar10(split, per_class=per_class)
    return to_float_input(images), labels


def calibration_subset(inputs: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` training inputs drawn at random (the split is sorted by class)."""
    rng = np.random.default_rng(seed)
    return inputs[rng.permutation(len(inputs))[:count]]


# ---------------------------------------------------------------------------- train

def build_model(key: str):
    from tvm_tinytrain.models.mobilenetv2 import mobilenet_v2
    from tvm_tinytrain.models.tiny_resnet import tiny_resnet

    return {"tinyresnet": lambda: tiny_resnet(num_classes=10),
            "mbv2": lambda: mobilenet_v2(num_classes=10)}[key]()


def augment(x, generator):
    """Random crop (zero padding 4) and horizontal flip of a batch (N, 3, H, W)."""
    import torch

    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    dy, dx = torch.randint(0, 9, (2, n), generator=generator).tolist()
    x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def train(model, inputs, labels, settings: TrainSettings, title: str):
    """Train in place (channels-last is ~2x faster on CPU); returns the model in eval mode."""
    import torch

    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(labels)
    steps_per_epoch = -(-len(x_all) // settings.batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                          weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.epochs * steps_per_epoch)
    model.to(memory_format=torch.channels_last).train()
    for epoch in range(settings.epochs):
        order = torch.randperm(len(x_all), generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"train {title} epoch {epoch + 1}/{settings.epochs}",
                   unit="batch", leave=False)
        correct = 0
        for step in bar:
            idx = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            x = augment(x_all[idx], generator) if settings.augmentation != "none" else x_all[idx]
            x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y_all[idx]).sum())
            bar.set_postfix(loss=f"{loss.item():.3f}")
        print(f"  {title} epoch {epoch + 1}/{settings.epochs}: train acc {correct / len(x_all):.3f} "
              f"(running, training batches), last loss {loss.item():.3f}")
    return model.to(memory_format=torch.contiguous_format).eval()


def torch_predict(model, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(inputs[i:i + batch])).argmax(1).numpy()
                               for i in range(0, len(inputs), batch)])


# --------------------------------------------------------------------- import + PTQ

def import_model(model, path: str, name: str):
    """fp32 RelaxModel through `from_torch` or through an ONNX file exported with dynamo."""
    import torch

    from tvm_tinytrain.frontend.onnx import from_onnx
    from tvm_tinytrain.frontend.torch import from_torch

    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    if path == "torch":
        return from_torch(model, example, name=name)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" noise
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"{name}.onnx"
        torch.onnx.export(model, (example,), str(onnx_path), dynamo=True, verbose=False)
        return from_onnx(onnx_path, name=name)


def int8_module(relax_model, calibration: np.ndarray):
    """(int8 layer graph, TVM-built module mapping int8 input (1, 3, H, W) -> int8 logits)."""
    from tvm_tinytrain import _tvm
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.quantization.lower import to_relax
    from tvm_tinytrain.quantization.ptq import quantize

    qgraph = quantize(to_graph(relax_model), calibration)
    return qgraph, _tvm.build(to_relax(qgraph))


def evaluate_int8(qgraph, built, inputs: np.ndarray, desc: str):
    """(int8 predictions, number of images whose TVM logits differ from reference.run_int8)."""
    from tvm_tinytrain.quantization.ptq import quantize_input
    from tvm_tinytrain.reference import run_int8

    preds, mismatches = [], 0
    for x in tqdm(inputs, desc=desc, unit="img", leave=False):
        x_q = quantize_input(qgraph, x)
        logits = built(x_q).reshape(-1)
        mismatches += not np.array_equal(logits, run_int8(qgraph, x_q).reshape(-1))
        preds.append(int(np.argmax(logits)))
    return np.asarray(preds), mismatches


# -------------------------------------------------------------------------- reports

def format_table(rows: list[Row]) -> str:
    head = f"{'model':<18} {'import':<6} {'fp32 acc':>8} {'int8 acc':>8} {'agreement':>9} " \
           f"{'bit-exact mismatches':>20} {'n_test':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{MODEL_TITLES[r.model]:<18} {r.import_path:<6} {r.fp32_acc:>8.3f} {r.int8_acc:>8.3f} "
                     f"{r.agreement:>9.3f} {r.bit_exact_mismatches:>20d} {r.n_test:>6d}")
    return "\n".join(lines)


def settings_note(settings: TrainSettings, n_calibration: int) -> str:
    return (f"Trained with torch on {settings.train_per_class} CIFAR-10 train images/class, "
            f"{settings.epochs} epochs, batch {settings.batch_size}, SGD lr {settings.lr} "
            f"(momentum {settings.momentum}, weight decay {settings.weight_decay}, {settings.schedule}), "
            f"augmentation: {settings.augmentation}, seed {settings.seed}. Input {settings.input_size}x{settings.input_size}: "
            f"MobileNetV2-w0.35 (a 128x128 backbone in the paper) is trained and imported with a "
            f"(1, 3, 32, 32) example input; its adaptive average pool makes the torch model "
            f"resolution-agnostic. PTQ calibrated on {n_calibration} train images.")


def write_markdown(rows: list[Row], note: str, path: Path):
    lines = ["# PTQ agreement on CIFAR-10 test", "",
             "| model | import | fp32 acc | int8 acc | agreement (top-1) | bit-exact mismatches | n_test |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {MODEL_TITLES[r.model]} | {r.import_path} | {r.fp32_acc:.3f} | {r.int8_acc:.3f} | "
              f"{r.agreement:.3f} | {r.bit_exact_mismatches} | {r.n_test} |" for r in rows]
    lines += ["", note, "",
              "agreement: fraction of test images where the TVM int8 module and the fp32 torch model "
              "predict the same class. bit-exact mismatches: images whose TVM int8 logits differ from "
              "the numpy reference (`reference.run_int8`).", ""]
    path.write_text("\n".join(lines))


def plot(rows: list[Row], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{MODEL_TITLES[r.model]}\n({r.import_path})" for r in rows]
    series = [("fp32 accuracy", [r.fp32_acc for r in rows]),
              ("int8 accuracy", [r.int8_acc for r in rows]),
              ("top-1 agreement fp32 vs int8", [r.agreement for r in rows])]
    x = np.arange(len(rows))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(2.2 * len(rows) + 2, 4.5))
    for i, (name, values) in enumerate(series):
        bars = ax.bar(x + (i - 1) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("fraction of CIFAR-10 test images")
    ax.set_title(f"PTQ on CIFAR-10 test (n={rows[0].n_test}): fp32 vs TVM int8")
    ax.legend(loc="upper center", ncol=len(series), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(rows: list[Row], settings: TrainSettings, note: str, out: Path, seconds: float):
    out.mkdir(parents=True, exist_ok=True)
    summary = {"rows": [asdict(r) for r in rows], "train_settings": asdict(settings),
               "note": note, "seconds": round(seconds, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_markdown(rows, note, out / "results.md")
    plot(rows, out / "ptq_agreement.png")
    return summary


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.ptq_agreement", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("out/ptq_agreement"), help="output folder")
    p.add_argument("--quick", action="store_true", help="fewer images and epochs (< 2 minutes)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="import paths")
    p.add_argument("--epochs", type=int, help=f"default {SIZES['epochs'][0]} ({SIZES['epochs'][1]} with --quick)")
    p.add_argument("--train-per-class", type=int, help=f"default {SIZES['train_per_class'][0]} "
                                                         f"({SIZES['train_per_class'][1]} with --quick)")
    p.add_argument("--test-per-class", type=int, help=f"default {SIZES['test_per_class'][0]} "
                                                        f"({SIZES['test_per_class'][1]} with --quick)")
    p.add_argument("--calibration", type=int, default=64, help="calibration images from the train set")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random crop (pad 4) + horizontal flip while training")
    args = p.parse_args(argv)
    for key, (default, quick) in SIZES.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else default)
    return args


def run_model(key: str, args, settings: TrainSettings, train_data, test_data, calibration) -> list[Row]:
    import torch

    title = MODEL_TITLES[key]
    torch.manual_seed(settings.seed)
    start = time.time()
    model = train(build_model(key), *train_data, settings, title)
    train_seconds = round(time.time() - start, 1)
    test_x, test_y = test_data
    fp32 = torch_predict(model, test_x)
    rows = []
    for path in args.paths:
        start = time.time()
        qgraph, built = int8_module(import_model(model, path, key), calibration)
        int8, mismatches = evaluate_int8(qgraph, built, test_x, desc=f"evaluate {title} ({path})")
        rows.append(Row(key, path, float(np.mean(fp32 == test_y)), float(np.mean(int8 == test_y)),
                        float(np.mean(int8 == fp32)), int(mismatches), len(test_y), len(calibration),
                        asdict(settings), train_seconds))
        print(f"  {title} via {path}: int8 acc {rows[-1].int8_acc:.3f}, agreement {rows[-1].agreement:.3f}, "
              f"{mismatches} bit-exact mismatches ({time.time() - start:.0f} s import+PTQ+build+eval)")
    return rows


def main(argv=None) -> dict:
    """Run the benchmark; returns the summary written to <out>/summary.json."""
    args = parse_args(argv)
    start = time.time()
    settings = TrainSettings(epochs=args.epochs, train_per_class=args.train_per_class,
                             batch_size=args.batch_size, lr=args.lr, momentum=0.9, weight_decay=5e-4,
                             schedule="cosine per step",
                             augmentation="random crop (pad 4) + horizontal flip" if args.augment else "none",
                             seed=args.seed, input_size=INPUT_SIZE)
    train_data = load_split("train", args.train_per_class)
    test_data = load_split("test", args.test_per_class)
    calibration = calibration_subset(train_data[0], args.calibration, args.seed)
    note = settings_note(settings, len(calibration))
    print(note)
    rows = []
    for key in args.models:
        rows += run_model(key, args, settings, train_data, test_data, calibration)
    seconds = time.time() - start
    summary = write_outputs(rows, settings, note, args.out, seconds)
    print()
    print(format_table(rows))
    print(f"\n{len(rows)} rows in {seconds:.0f} s; wrote {', '.join(str(args.out / f) for f in OUTPUT_FILES)}")
    return summary


if __name__ == "__main__":
    result = main()
    bad = sum(r["bit_exact_mismatches"] for r in result["rows"])
    if bad:
        print(f"FAIL: {bad} images where TVM int8 logits differ from reference.run_int8", file=sys.stderr)
    sys.exit(1 if bad else 0)
