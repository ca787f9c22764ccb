"""Pretrain the keyword-spotting CNN (models/kws_cnn.py) in fp32 and check its int8 import.

Only the Speech Commands *test* set exists here, so it plays every role (data/speech_commands.py
splits it once, speaker-disjoint, 70/30).  The later fine-tuning experiment needs a task the
device has to learn, so pretraining sees only 8 of the 12 classes:

    pretraining:  train split of _silence_, _unknown_, yes, no, up, down, left, right
    fine-tuning:  train split of all 12 classes (on, off, stop, go are new), with a 12-class
                  head whose first 8 rows are the pretrained ones; evaluated on the test
                  split (speakers never heard in pretraining or fine-tuning)

Before fine-tuning the rows of the 4 new words are random, so about 2/3 of the 12-class test
set (the pretrained words) is all the model can get right: the headroom is large and can only
come from on-device learning, like the paper's ImageNet -> new-dataset transfer.

This script (1 torch thread, ~2-4 minutes): trains with SGD (Nesterov, one-cycle schedule),
random time shifts and SpecAugment time / frequency masks, saves `kws_pretrained.pt` (state
dict) and `summary.json` into the output folder (default out/kws/), imports the model through
`from_torch`, post-training quantizes it (64 training clips for calibration, the dataset's
fixed feature quantization for the input) and reports fp32 and int8 accuracy on the test
split of the 8 pretraining classes and their top-1 agreement.  `finetune_graph()` gives the
quantized 12-class graph to fine-tune; its 12-class test accuracy before fine-tuning is
reported too (the starting point of the fine-tuning experiment).

    python -m benchmarks.kws_pretrain [--out DIR] [--epochs N] [--seed S]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tvm_tinytrain.data.speech_commands import CLASSES
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.models.kws_cnn import INPUT_SHAPE

PRETRAIN_CLASSES = CLASSES[:8]   # _silence_, _unknown_, yes, no, up, down, left, right
NEW_CLASSES = CLASSES[8:]        # on, off, stop, go: learnt on the device
DEFAULT_OUT = Path("out/kws")
WEIGHTS = "kws_pretrained.pt"
MAX_SHIFT = 5                    # frames (100 ms) of random time shift
MAX_MASK = (8, 6)                # SpecAugment: up to 8 frames and 6 mel bands masked per clip
N_CALIBRATION = 64


def pretrain_data(seed: int = 0, **per_class):
    from tvm_tinytrain.data.datasets import load_dataset

    return load_dataset("speech-commands:classes=" + ",".join(PRETRAIN_CLASSES), INPUT_SHAPE, seed=seed, **per_class)


def augment(x, generator, fill: float):
    """Per clip of a batch (N, 1, T, F): random shift by up to MAX_SHIFT frames, then one time and
    one frequency band set to `fill` (SpecAugment masks)."""
    import torch

    n, _, t, f = x.shape
    padded = torch.nn.functional.pad(x, (0, 0, MAX_SHIFT, MAX_SHIFT), value=fill)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n,), generator=generator).tolist()
    x = torch.stack([padded[i, :, o:o + t] for i, o in enumerate(offsets)])
    for axis, size, length in ((2, t, MAX_MASK[0]), (3, f, MAX_MASK[1])):
        width = torch.randint(0, length + 1, (n, 1), generator=generator)
        start = (torch.rand(n, 1, generator=generator) * (size - width + 1)).long()
        pos = torch.arange(size)[None]
        mask = (pos >= start) & (pos < start + width)  # (n, size)
        x = x.masked_fill(mask[:, None, :, None] if axis == 2 else mask[:, None, None, :], fill)
    return x


def train(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int, batch: int = 64, lr: float = 0.05):
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    fill = float(x.min())  # the log floor: digital silence
    steps = -(-len(x_all) // batch)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x_all), generator=generator)
        correct, bar = 0, tqdm(range(steps), desc=f"pretrain epoch {epoch + 1}/{epochs}", unit="batch", leave=False)
        for step in bar:
            idx = order[step * batch:(step + 1) * batch]
            logits = model(augment(x_all[idx], generator, fill))
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y_all[idx]).sum())
        print(f"  epoch {epoch + 1}/{epochs}: running train acc {correct / len(x_all):.3f}, loss {loss.item():.3f}")
    return model.eval()


def torch_predict(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + 256])).argmax(1).numpy()
                               for i in range(0, len(x), 256)])


def quantize_model(model, calibration: np.ndarray, name: str = "kws_cnn"):
    """torch -> from_torch -> layer graph -> PTQ with the speech features' fixed input quantization."""
    import torch

    from tvm_tinytrain.data.datasets import SPEECH_Q
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.frontend.torch import from_torch
    from tvm_tinytrain.quantization.ptq import quantize

    graph = to_graph(from_torch(model, torch.from_numpy(calibration[:1]), name=name))
    return quantize(graph, calibration, progress=False, input_q=SPEECH_Q)


def int8_predict(qgraph, x_q: np.ndarray) -> np.ndarray:
    from tvm_tinytrain.reference import run_int8

    return np.asarray([int(np.argmax(run_int8(qgraph, x))) for x in tqdm(x_q, desc="int8", leave=False)])


def load_pretrained(out: Path = DEFAULT_OUT):
    """The pretrained 8-class KWSNet (eval mode) saved by this script."""
    import torch

    from tvm_tinytrain.models.kws_cnn import kws_cnn

    path = Path(out) / WEIGHTS
    if not path.is_file():
        raise TinyTrainError(f"kws: {path} not found; run `python -m benchmarks.kws_pretrain --out {out}` first")
    model = kws_cnn(len(PRETRAIN_CLASSES))
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def finetune_graph(out: Path = DEFAULT_OUT, seed: int = 0):
    """int8 Graph of the pretrained KWSNet with a 12-class head (classes in CLASSES order).

    Rows 0-7 of the new classifier are the pretrained ones; rows 8-11 (on, off, stop, go) are
    seeded random with the mean norm of the pretrained rows and their mean bias, so the logits
    keep the range PTQ calibrates.  Calibration uses pretraining-class training clips only:
    the host never sees the new words.
    """
    import torch

    from tvm_tinytrain.models.kws_cnn import kws_cnn

    old = load_pretrained(out)
    model = kws_cnn(len(CLASSES))
    model.load_state_dict({k: v for k, v in old.state_dict().items() if not k.startswith("classifier.")},
                          strict=False)
    with torch.no_grad():
        w_old, b_old = old.classifier.weight, old.classifier.bias
        new = torch.randn(len(NEW_CLASSES), w_old.shape[1], generator=torch.Generator().manual_seed(seed))
        new *= w_old.norm(dim=1).mean() / new.norm(dim=1, keepdim=True)
        model.classifier.weight.copy_(torch.cat([w_old, new]))
        model.classifier.bias.copy_(torch.cat([b_old, b_old.mean().repeat(len(NEW_CLASSES))]))
    data = pretrain_data(seed, train_per_class=N_CALIBRATION // len(PRETRAIN_CLASSES), test_per_class=1)
    calibration = data.to_float(data.train_x)
    return quantize_model(model.eval(), calibration, name="kws_cnn_12")


def main(argv=None):
    import torch

    from tvm_tinytrain.models.kws_cnn import kws_cnn

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    data = pretrain_data(args.seed)
    train_x, test_x = data.to_float(data.train_x), data.to_float(data.test_x)
    load_s = time.time() - t0
    print(f"pretraining data: {len(train_x)} train / {len(test_x)} test clips, classes {data.classes} "
          f"({load_s:.1f} s)")

    t0 = time.time()
    torch.manual_seed(args.seed)  # the initial weights
    model = train(kws_cnn(len(PRETRAIN_CLASSES)), train_x, data.train_y, args.epochs, args.seed)
    train_s = time.time() - t0
    torch.save(model.state_dict(), args.out / WEIGHTS)
    fp32 = torch_predict(model, test_x)

    t0 = time.time()
    qgraph = quantize_model(model, train_x[:N_CALIBRATION])
    int8 = int8_predict(qgraph, data.test_x)
    int8_s = time.time() - t0

    from tvm_tinytrain.data.datasets import load_dataset

    all12 = load_dataset("speech-commands", INPUT_SHAPE, seed=args.seed, progress=False)
    start12 = int8_predict(finetune_graph(args.out, args.seed), all12.test_x)

    summary = {
        "classes": list(data.classes), "n_train": len(train_x), "n_test": len(test_x),
        "params": sum(p.numel() for p in model.parameters()), "epochs": args.epochs, "seed": args.seed,
        "fp32_test_acc": float((fp32 == data.test_y).mean()), "int8_test_acc": float((int8 == data.test_y).mean()),
        "agreement": float((fp32 == int8).mean()), "load_seconds": load_s, "train_seconds": train_s,
        "import_ptq_eval_seconds": int8_s,
        "finetune_start_int8_acc_12": float((start12 == all12.test_y).mean()), "n_test_12": len(all12.test_y),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"fp32 test acc {summary['fp32_test_acc']:.3f}, int8 {summary['int8_test_acc']:.3f}, "
          f"agreement {summary['agreement']:.3f}  ({train_s:.0f} s training); 12-class graph before "
          f"fine-tuning: int8 {summary['finetune_start_int8_acc_12']:.3f}  -> {args.out}")
    return summary


if __name__ == "__main__":
    main()
