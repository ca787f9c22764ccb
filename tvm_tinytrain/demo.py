"""The README's main job: `./dev demo` -- on-device training on an emulated Cortex-M7.

Compiles MCUNet-5fps with a fresh 10-class head and the paper's ~100 KB sparse-update scheme
into C, builds it into firmware for the Cortex-M7 board (STM32F746 budget: 320 KB SRAM, 1 MB
flash), and runs it under QEMU: predictions on held-out CIFAR-10 test images, a few epochs of
training steps on a small CIFAR-10 training subset, and the predictions again. Prints the
mean loss per epoch, the accuracy before and after, peak SRAM and flash against the budgets,
and the instructions per training step and per inference (counted in QEMU, see
targets/qemu.py) with a latency estimate that states its assumption. The host build of the
same C replays the same requests as a check.

`--inference` keeps the earlier host check: an int8 backbone built with TVM for the host
classifies the ImageNet sample images, every logit checked against the numpy reference.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .backbones import BACKBONES, load_backbone
from .errors import TinyTrainError
from .layer_table import format_table

DEFAULT_CLASSES = "airplane,automobile,frog"
# Chosen with the host build of the same C (codegen.host_runner): at 0.05 (the scheme default)
# the loss on this subset diverges; at 0.001 it falls about 1.7 -> 0.6 -> 0.25 over 3 epochs.
DEFAULT_LR = 0.001
CLOCK_HZ = 216e6  # STM32F746 maximum core clock
DATA_NEEDED = ("backbones", "cifar10")  # what the training demo reads (fetched when found nowhere)


def run_inference(model: str) -> int:
    """The host check: TVM int8 logits on the ImageNet samples equal the numpy reference."""
    from . import _tvm
    from .data.images import center_crop_resize, to_int8_input
    from .data.samples import load_samples
    from .quantization.lower import to_relax
    from .reference import run_int8

    graph = load_backbone(model)
    print(format_table(graph), "\n")
    start = time.time()
    forward = _tvm.build(to_relax(graph))
    print(f"built the int8 Relax graph for llvm in {time.time() - start:.1f} s")
    top1 = top5 = mismatches = 0
    samples = load_samples("imagenet")
    for image, label in samples:
        x = to_int8_input(center_crop_resize(image))[None]
        logits = forward(x)[0]
        mismatches += not np.array_equal(logits, run_int8(graph, x))
        ranking = np.argsort(-logits.astype(np.int32), kind="stable")
        top1 += ranking[0] == label
        top5 += label in ranking[:5]
    print(f"{model} on {len(samples)} ImageNet samples: top-1 {top1}/{len(samples)}, top-5 {top5}/{len(samples)}; "
          f"TVM int8 logits equal the numpy reference on {len(samples) - mismatches}/{len(samples)} images")
    return 0 if mismatches == 0 else 1


def _class_ids(text: str) -> list[int]:
    from .data.cifar10 import CIFAR10_CLASSES

    ids = []
    for name in (c.strip() for c in text.split(",") if c.strip()):
        if name not in CIFAR10_CLASSES:
            raise TinyTrainError(f"demo: unknown CIFAR-10 class {name!r}; the classes are {', '.join(CIFAR10_CLASSES)}")
        ids.append(CIFAR10_CLASSES.index(name))
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise TinyTrainError(f"demo: --classes needs at least two different CIFAR-10 classes, got {text!r}")
    return ids


def _accuracy(logits, held) -> tuple[int, int]:
    right = sum(int(np.argmax(np.asarray(a, np.float32))) == label for a, (_, label) in zip(logits, held))
    return right, len(held)


def run_training(model: str, scheme_name: str, steps: int, epochs: int, classes: str, held_per_class: int,
                 lr_weight: float, lr_bias: float, board: str = "cortex-m7", out: str | None = None) -> int:
    from .codegen.emit import write_project
    from .codegen.host_runner import HostProgram
    from .codegen.protocol import PREDICT, TRAIN
    from .data.cifar10 import CIFAR10_CLASSES, load_cifar10
    from .data.images import resize_to, to_int8_input
    from .compiler import compile
    from .fetch import ensure_available
    from .targets.footprint import footprint, format_footprint, kb
    from .targets.qemu import QemuProgram, load_board, toolchain_missing

    class_ids = _class_ids(classes)
    if epochs < 1 or steps < epochs * len(class_ids):
        raise TinyTrainError(f"demo: --steps {steps} is too few for {epochs} epoch(s) of at least one image of "
                             f"each of {len(class_ids)} classes (need >= {epochs * len(class_ids)})")
    per_class = steps // (epochs * len(class_ids))
    missing = toolchain_missing()
    if missing:
        raise TinyTrainError(f"demo: {', '.join(missing)} not found; run ./dev demo (it installs "
                             f"gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm)")
    ensure_available(DATA_NEEDED, "the demo")  # a machine without the data fetches it once
    t0 = time.time()
    spec = load_board(board)

    # -- data: a small CIFAR-10 subset, resized to the model's 128x128 int8 input ----------------
    names = ", ".join(CIFAR10_CLASSES[c] for c in class_ids)
    pixels, labels = load_cifar10("train", per_class=per_class)
    train = [(to_int8_input(resize_to(p, 128)), int(l)) for p, l in zip(pixels, labels) if l in class_ids]
    pixels, labels = load_cifar10("test", per_class=held_per_class)
    held = [(to_int8_input(resize_to(p, 128)), int(l)) for p, l in zip(pixels, labels) if l in class_ids]
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(train)) for _ in range(epochs)]
    print(f"data: {len(train)} CIFAR-10 training images ({per_class} each of {names}) x {epochs} epochs = "
          f"{len(train) * epochs} training steps; {len(held)} held-out test images; resized 32 -> 128")

    # -- compile: sparse-update training graph -> C -> Cortex-M7 firmware --------------------------
    graph = load_backbone(model, num_classes=10)
    compiled = compile(graph, scheme_name, lr_weight=lr_weight, lr_bias=lr_bias)
    scheme = compiled.scheme
    with tempfile.TemporaryDirectory(prefix="tinytrain-demo-") as tmp:
        folder = Path(out) if out else Path(tmp)
        write_project(compiled.project, folder, force=bool(out))
        prog = QemuProgram(folder, spec)
        m = prog.memory
        print(f"compiled {model} (10-class head) with scheme {scheme_name}{'' if scheme.name == scheme_name else f' ({scheme.name})'} (lr_weight {lr_weight:g}, "
              f"lr_bias {lr_bias:g}): {len(m['trained_params'])} trained tensors, "
              f"{kb(m['updated_param_bytes'])} of trained parameters, activation arena {kb(m['arena_bytes'])}; "
              f"firmware for {spec['name']} ({spec['qemu_machine']}) in {time.time() - t0:.0f} s")

        # -- run on QEMU: predict, train, predict (one run: the firmware keeps its state) -------------
        requests = [(PREDICT, 0, x) for x, _ in held]
        for order in orders:
            requests += [(TRAIN, train[i][1], train[i][0]) for i in order]
        requests += [(PREDICT, 0, x) for x, _ in held]
        t1 = time.time()
        answers, _params, error, stack = prog.run(requests, timeout=900)
        seconds = time.time() - t1
        # the same C built for this machine replays the same requests
        h_answers, _h_params, _h_error = HostProgram(folder).run(requests)
    same = all(np.allclose(a, h, rtol=1e-5, atol=0) if k == TRAIN else np.array_equal(a, h)
               for (k, _, _), a, h in zip(requests, answers, h_answers))
    if error:
        raise TinyTrainError(f"demo: the firmware reported tt_error() = {error}")
    counts = prog.last_counts
    n_held, n_steps = len(held), len(train) * epochs
    losses = np.asarray(answers[n_held:n_held + n_steps], np.float64).reshape(epochs, len(train))
    print(f"ran {len(requests)} requests on QEMU {spec['qemu_machine']} in {seconds:.0f} s; the host build of the "
          f"same C gives {'the same' if same else 'DIFFERENT'} losses and logits\n")

    print("training on the device (mean cross-entropy loss per epoch):")
    for e, row in enumerate(losses):
        print(f"  epoch {e + 1}: loss {row.mean():.3f}  ({len(row)} steps)")
    before, after = _accuracy(answers[:n_held], held), _accuracy(answers[-n_held:], held)
    print(f"held-out accuracy (argmax of the 10 logits): before {before[0]}/{before[1]}, "
          f"after {after[0]}/{after[1]}\n")

    print(format_footprint(footprint(prog, stack)) + "\n")

    train_counts = counts[n_held:n_held + n_steps]
    pred_counts = counts[:n_held] + counts[-n_held:]
    per_step, per_pred = float(np.mean(train_counts)), float(np.mean(pred_counts))
    print("work per request (instructions counted by QEMU with -icount shift=0 and SysTick; deterministic):")
    print(f"  training step {per_step / 1e6:.1f} M instructions  (min {min(train_counts) / 1e6:.1f} M, "
          f"max {max(train_counts) / 1e6:.1f} M)")
    print(f"  inference     {per_pred / 1e6:.1f} M instructions")
    print(f"  estimated latency assuming 1 cycle per instruction at {CLOCK_HZ / 1e6:.0f} MHz (QEMU counts "
          f"instructions, not cycles; real memory stalls make it slower): training step "
          f"{per_step / CLOCK_HZ * 1e3:.0f} ms, inference {per_pred / CLOCK_HZ * 1e3:.0f} ms")
    print(f"\ndemo finished in {time.time() - t0:.0f} s")
    return 0 if same else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tvm_tinytrain.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, choices=BACKBONES,
                        help="backbone (default mcunet-5fps; mbv2-w0.35 with --inference)")
    parser.add_argument("--scheme", default="paper-100kb", help="sparse-update scheme (preset or JSON file)")
    parser.add_argument("--steps", type=int, default=90, help="training steps in all (default 90)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training subset (default 3)")
    parser.add_argument("--classes", default=DEFAULT_CLASSES, help=f"CIFAR-10 classes (default {DEFAULT_CLASSES})")
    parser.add_argument("--held-out", type=int, default=5, help="held-out test images per class (default 5)")
    parser.add_argument("--lr-weight", type=float, default=DEFAULT_LR)
    parser.add_argument("--lr-bias", type=float, default=DEFAULT_LR)
    parser.add_argument("--board", default="cortex-m7", help="board name or board .json (default cortex-m7)")
    parser.add_argument("--out", default=None, help="keep the generated project and firmware in this folder")
    parser.add_argument("--inference", action="store_true",
                        help="instead: the host inference check (TVM int8 logits == numpy reference)")
    args = parser.parse_args(argv)
    try:
        if args.inference:
            return run_inference(args.model or "mbv2-w0.35")
        return run_training(args.model or "mcunet-5fps", args.scheme, args.steps, args.epochs, args.classes,
                            args.held_out, args.lr_weight, args.lr_bias, args.board, args.out)
    except TinyTrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
