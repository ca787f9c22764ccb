"""The epoch loop: shuffled batch-1 SGD steps with a warm-up + cosine schedule, a held-out
evaluation after every epoch, progress on a tqdm bar.  The engine decides where steps run.

Data with float targets (the MSE loss: `Dataset.targets`) is trained towards each sample's target
and evaluated by the mean reconstruction error instead of accuracy (History.metric "error")."""
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
    epochs: list = field(default_factory=list)          # {"epoch", "loss", "test_<metric>", "lr_factor", "seconds"}
    initial: float | None = None                        # the held-out metric before training
    instructions: list = field(default_factory=list)    # per training step, on a board
    metric: str = "accuracy"                            # or "error": mean reconstruction error (MSE loss)

    @property
    def final(self):
        return self.epochs[-1][f"test_{self.metric}"] if self.epochs else self.initial

    @property
    def initial_accuracy(self):
        return self.initial if self.metric == "accuracy" else None

    @property
    def final_accuracy(self):
        return self.final if self.metric == "accuracy" else None

    def to_json(self) -> dict:
        return {"losses": [float(v) for v in self.losses], "epochs": self.epochs, "metric": self.metric,
                f"initial_{self.metric}": self.initial, f"final_{self.metric}": self.final}


def evaluate(engine, xs, ys, desc: str = "eval", progress: bool = True) -> float:
    """Top-1 accuracy of `engine.predict` on int8 inputs `xs`."""
    if len(xs) == 0:
        raise TinyTrainError("evaluate: no test samples")
    hits = 0
    for x, y in tqdm(zip(xs, ys), total=len(xs), desc=desc, leave=False, disable=not progress):
        hits += int(np.argmax(engine.predict(x))) == int(y)
    return hits / len(xs)


def reconstruction_error(engine, data, desc: str = "eval", progress: bool = True) -> float:
    """Mean over `data`'s test samples of the MSE of `engine.output` against each sample's target
    (what the MSE loss computes, on held-out data)."""
    if len(data.test_x) == 0:
        raise TinyTrainError("evaluate: no test samples")
    errors = [float(np.mean((engine.output(x).reshape(-1) - data.target("test", i)) ** 2))
              for i, x in enumerate(tqdm(data.test_x, desc=desc, leave=False, disable=not progress))]
    return float(np.mean(errors))


def fit(engine, scheme, data, epochs: int, warmup_epochs: float = 0.0, seed: int = 0,
        progress: bool = True, eval_before: bool = False, on_epoch=None) -> History:
    """Train `engine` on `data.train_x/train_y` for `epochs`, evaluating on `data.test_x/test_y`."""
    n = len(data.train_x)
    if epochs < 1 or n == 0:
        raise TinyTrainError(f"fit: need at least one epoch and one training sample (epochs={epochs}, samples={n})")
    total = epochs * n
    warmup = min(int(round(warmup_epochs * n)), total - 1)
    rng = np.random.default_rng(seed)
    regression = getattr(data, "targets", None) is not None
    hist = History(metric="error" if regression else "accuracy")

    def score(desc):
        if regression:
            return reconstruction_error(engine, data, desc, progress)
        return evaluate(engine, data.test_x, data.test_y, desc, progress)

    if eval_before:
        hist.initial = score("eval (before)")
    step = 0
    for epoch in range(epochs):
        t0, order = time.time(), rng.permutation(n)
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        losses = []
        for i in bar:
            factor = cosine_warmup(step, total, warmup)
            engine.set_learning_rates(factor * scheme.lr_weight, factor * scheme.lr_bias)
            loss = engine.train(data.train_x[i], data.target("train", i) if regression else int(data.train_y[i]))
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
        hist.epochs.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                            f"test_{hist.metric}": score(f"eval {epoch + 1}/{epochs}"),
                            "lr_factor": float(factor), "seconds": round(time.time() - t0, 2)})
        if on_epoch:
            on_epoch(hist.epochs[-1])
    return hist
