"""The epoch loop: shuffled batch-1 SGD steps with a warm-up + cosine schedule, a held-out
evaluation after every epoch, progress on a tqdm bar.  The engine decides where steps run."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..errors import TinyTrainError
from .schedule import cosine_warmup


@dataclass
class History:
    losses: list = field(default_factory=list)          # every training step, in order
    epochs: list = field(default_factory=list)          # {"epoch", "loss", "test_accuracy", "lr_factor", "seconds"}
    initial_accuracy: float | None = None
    instructions: list = field(default_factory=list)    # per training step, on a board

    @property
    def final_accuracy(self):
        return self.epochs[-1]["test_accuracy"] if self.epochs else self.initial_accuracy

    def to_json(self) -> dict:
        return {"losses": [float(v) for v in self.losses], "epochs": self.epochs,
                "initial_accuracy": self.initial_accuracy, "final_accuracy": self.final_accuracy}


def evaluate(engine, xs, ys, desc: str = "eval", progress: bool = True) -> float:
    """Top-1 accuracy of `engine.predict` on int8 inputs `xs`."""
    if len(xs) == 0:
        raise TinyTrainError("evaluate: no test samples")
    hits = 0
    for x, y in tqdm(zip(xs, ys), total=len(xs), desc=desc, leave=False, disable=not progress):
        hits += int(np.argmax(engine.predict(x))) == int(y)
    return hits / len(xs)


def fit(engine, scheme, data, epochs: int, warmup_epochs: float = 0.0, seed: int = 0,
        progress: bool = True, eval_before: bool = False, on_epoch=None) -> History:
    """Train `engine` on `data.train_x/train_y` for `epochs`, evaluating on `data.test_x/test_y`."""
    n = len(data.train_x)
    if epochs < 1 or n == 0:
        raise TinyTrainError(f"fit: need at least one epoch and one training sample (epochs={epochs}, samples={n})")
    total = epochs * n
    warmup = min(int(round(warmup_epochs * n)), total - 1)
    rng = np.random.default_rng(seed)
    hist = History()
    if eval_before:
        hist.initial_accuracy = evaluate(engine, data.test_x, data.test_y, "eval (before)", progress)
    step = 0
    for epoch in range(epochs):
        t0, order = time.time(), rng.permutation(n)
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        losses = []
        for i in bar:
            factor = cosine_warmup(step, total, warmup)
            engine.set_learning_rates(factor * scheme.lr_weight, factor * scheme.lr_bias)
            loss = engine.train(data.train_x[i], int(data.train_y[i]))
            if not np.isfinite(loss):
                raise TinyTrainError(f"fit: the loss became {loss} at step {step} (epoch {epoch + 1}); lower the "
                                     f"learning rates (now {scheme.lr_weight:g} / {scheme.lr_bias:g})")
            losses.append(loss)
            if engine.instructions is not None:
                hist.instructions.append(engine.instructions)
            step += 1
            if len(losses) % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        hist.losses += losses
        acc = evaluate(engine, data.test_x, data.test_y, f"eval {epoch + 1}/{epochs}", progress)
        hist.epochs.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "test_accuracy": acc,
                            "lr_factor": float(factor), "seconds": round(time.time() - t0, 2)})
        if on_epoch:
            on_epoch(hist.epochs[-1])
    return hist
