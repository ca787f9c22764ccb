"""`--lr auto`: a learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's
lr_find) on the host build of the same generated C, and the rule that picks the rate from it.

Why: the presets' rate (0.05) was tuned on the paper's backbones; on other models it can make
the loss explode or rise for many steps, and only a run on the model itself tells.

The test: STEPS training steps, one sample each (a fixed subset of the training data, chosen
with the run's seed), the learning rate of weights and biases growing exponentially from START
to STOP, starting from the program's initial parameters in a session of its own (the real run
starts again from those parameters). Batch-1 losses differ more from sample to sample than
between rates, so each step's loss is taken relative to the same sample's loss under the
initial parameters (a forward pass before the test), plus the mean of those: the curve moves
only when the parameters do. It is smoothed (bias-corrected exponential moving average, BETA);
the test stops early once the smoothed loss exceeds DIVERGE times its lowest value or a loss is
not finite.

The rule (`choose`) is RULE."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ..errors import TinyTrainError

START, STOP, STEPS = 1e-5, 1.0, 100
BETA = 0.9        # smoothing of the per-step losses (about the last 10 steps)
SKIP = 8          # the first steps (rates < 3e-5, which barely move int8 weights) give the starting loss
DIVERGE = 4.0     # stop once the smoothed loss exceeds this many times its lowest value
NOISE = 0.1       # smoothed losses within 10 % of the start are not told apart from it
RULE = ("one tenth of the rate where the smoothed loss was lowest, if it fell at least 10 % below its start (its "
        "value after the first 8 steps) before rising for good; otherwise one tenth of the rate from which it stayed "
        "10 % above its start (or of the largest rate tried, if it never did); clipped to [1e-05, 0.1]")


@dataclass
class RangeTest:
    rates: list           # the rate of every step run
    losses: list          # its loss (None where not finite)
    smoothed: list        # the smoothed loss used by the rule
    chosen: float
    reason: str

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "reason": self.reason, "rule": RULE, "rates": self.rates,
                "losses": self.losses, "smoothed": self.smoothed}

    def summary(self) -> str:
        """What was tried and chosen, for the log: one rate per decade with its smoothed loss."""
        shown = [f"{r:.0e}: {s:.3f}" for r, s, last in zip(self.rates, self.smoothed, _decade_marks(self.rates))
                 if last]
        return (f"learning-rate range test ({len(self.rates)} steps, {self.rates[0]:.0e} to {self.rates[-1]:.2g}; "
                f"smoothed loss {', '.join(shown)}): chose {self.chosen:.3g}, {self.reason}")

    def plot(self, title: str) -> bytes:
        """Loss against learning rate (log axis) with the chosen rate marked, as PNG bytes."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        raw = [np.nan if v is None else v for v in self.losses]
        ax.semilogx(self.rates, raw, ".", alpha=0.3, label="loss per step")
        ax.semilogx(self.rates[:len(self.smoothed)], self.smoothed, label=f"smoothed (EMA {BETA})")
        ax.axvline(self.chosen, color="k", linestyle="--", label=f"chosen {self.chosen:.3g}")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("cross-entropy loss")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        return buf.getvalue()


def rates(steps: int = STEPS, start: float = START, stop: float = STOP) -> np.ndarray:
    """The exponentially growing rates of the test."""
    return np.geomspace(start, stop, steps)


def smooth(losses, beta: float = BETA) -> np.ndarray:
    """Bias-corrected exponential moving average (the first values are not pulled towards 0)."""
    out, avg = [], 0.0
    for i, v in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(v)
        out.append(avg / (1 - beta ** (i + 1)))
    return np.asarray(out)


def diverged(smoothed) -> bool:
    """The smoothed loss has risen past DIVERGE times its lowest value (after the first SKIP steps)."""
    return len(smoothed) > SKIP and smoothed[-1] > DIVERGE * float(np.min(smoothed[SKIP - 1:]))


def choose(tried, losses) -> tuple[float, str, np.ndarray]:
    """(rate, reason, smoothed losses) from the rates tried and their losses, by RULE.

    The curve counts up to where the test stopped: its first non-finite loss (None) or the step
    where the smoothed loss diverged; later steps are ignored, as the test would not run them."""
    tried = np.asarray(tried, float)
    n = next((i for i, v in enumerate(losses) if v is None or not math.isfinite(v)), len(losses))
    if n <= SKIP:
        raise TinyTrainError(f"learning-rate range test: the loss was not finite within the first {SKIP + 1} steps "
                             f"(rates up to {tried[min(SKIP, len(tried) - 1)]:.1e}); the model or the data is broken: "
                             f"check it with a fixed --lr")
    s = smooth(losses[:n])
    s = s[:next((k + 1 for k in range(SKIP, n) if diverged(s[:k + 1])), n)]
    start = float(s[SKIP - 1])
    above = s > (1 + NOISE) * start
    rise = next((k for k in range(SKIP, len(s)) if above[k:].all()), len(s))  # from here on it stays above
    i = SKIP - 1 + int(np.argmin(s[SKIP - 1:rise]))
    if start - s[i] >= NOISE * start:
        rate = tried[i] / 10
        reason = f"one tenth of {tried[i]:.2g}, where the smoothed loss was lowest ({s[i]:.3f}, from {start:.3f})"
    elif rise < len(s):
        rate = tried[rise] / 10
        reason = (f"one tenth of {tried[rise]:.2g}, where the smoothed loss rose for good above its start "
                  f"({start:.3f}; it never fell {100 * NOISE:g} % below it)")
    else:
        rate = tried[len(s) - 1] / 10
        reason = (f"one tenth of {tried[len(s) - 1]:.2g}, the largest rate tried: the smoothed loss stayed within "
                  f"{100 * NOISE:g} % of its start ({start:.3f}) over the whole range")
    low, high = START, STOP / 10
    if not low <= rate <= high:
        rate = min(max(rate, low), high)
        reason += f", clipped to {rate:.2g}"
    return float(rate), reason, s


def range_test(program, data, seed: int = 0, steps: int = STEPS, progress=None) -> RangeTest:
    """Run the test on the host build of `program` (its initial parameters, a session of its own)."""
    from .engines import HOST, CEngine

    n = len(data.train_x)
    if n == 0:
        raise TinyTrainError("learning-rate range test: no training samples")
    order = np.resize(np.random.default_rng(seed).permutation(n)[:steps], steps)  # a fixed subset, cycled if small
    tried, losses = rates(steps), []
    with CEngine(program, target=HOST) as engine:
        start = {int(i): _loss(program, engine.predict(data.train_x[i]), int(data.train_y[i])) for i in set(order)}
        mean = float(np.mean(list(start.values())))
        for lr, i in zip(tried, order):
            engine.set_learning_rates(lr, lr)
            loss = engine.train(data.train_x[i], int(data.train_y[i])) - start[int(i)] + mean
            losses.append(loss if math.isfinite(loss) else None)
            if progress:
                progress(len(losses))
            if losses[-1] is None or diverged(smooth(losses)):
                break
    tried = tried[:len(losses)]
    rate, reason, s = choose(tried, losses)
    return RangeTest([float(r) for r in tried], losses, [float(v) for v in s], rate, reason)


def _loss(program, logits, label: int) -> float:
    """Cross-entropy of the program's logits (int8 ones dequantized with the head's quantization)."""
    z = np.asarray(logits, np.float64)
    if not program.scheme.fp32_classifier:
        q = program.graph.q_of(program.graph.output)
        z = q.scale * (z - q.zero)
    return float(np.logaddexp.reduce(z) - z[label])


def _decade_marks(tried):
    """True at the last step of each decade of rates (and at the last step)."""
    decades = [math.floor(math.log10(r) + 1e-9) for r in tried]
    return [i == len(tried) - 1 or decades[i + 1] != d for i, d in enumerate(decades)]
