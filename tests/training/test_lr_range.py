"""`--lr auto`: the choice rule on synthetic loss curves, the range test on the generated C of a
real setup (mcunet-5fps bias-only on a few CIFAR-10 images), and `train --lr auto` end to end."""
import json

import numpy as np
import pytest

from tvm_tinytrain.cli import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.training.lr_range import START, STOP, choose, rates, smooth
from tvm_tinytrain.training.run import learning_rates, train

R = rates()  # 100 rates, 1e-5 .. 1


def curve(fn, noise=0.0, seed=0):
    """Losses as a function of log10(rate), plus gaussian noise relative to the loss."""
    x = np.log10(R)
    y = fn(x)
    return list(y * (1 + noise * np.random.default_rng(seed).standard_normal(len(x))))


def falls_then_diverges(x):  # 2.3 until 1e-3, down to 1.0 at 3e-2, then up steeply
    return np.where(x < -3, 2.3, np.where(x < -1.5, 2.3 - 1.3 * (x + 3) / 1.5, 1.0 + 20 * (x + 1.5) ** 2))


def test_monotone_decreasing_takes_a_tenth_of_the_largest_rate():
    rate, reason, s = choose(R, curve(lambda x: 2.3 - 0.3 * (x + 5)))
    assert rate == pytest.approx(STOP / 10) and "lowest" in reason and len(s) == len(R)


def test_falling_then_diverging_takes_a_tenth_of_the_minimum():
    rate, reason, s = choose(R, curve(falls_then_diverges))
    best = R[int(np.argmin(s))]
    assert rate == pytest.approx(best / 10) and 1e-3 <= rate <= 5e-3, (rate, reason)
    assert len(s) < len(R)  # the curve counts only up to where it diverged


def test_steps_after_the_divergence_change_nothing():
    losses = curve(falls_then_diverges)
    rate, _, s = choose(R, losses)
    cut = len(s)
    assert choose(R[:cut], losses[:cut])[0] == rate
    assert choose(R, losses[:cut] + [0.01] * (len(R) - cut))[0] == rate  # a later "recovery" is not seen


def test_flat_then_diverging_takes_a_tenth_of_where_it_rose():
    rate, reason, _ = choose(R, curve(lambda x: np.where(x < -2, 2.3, 2.3 * 10 ** (x + 2))))
    assert 1e-3 <= rate <= 2e-3 and "rose" in reason, (rate, reason)


def test_flat_over_the_whole_range_takes_a_tenth_of_the_largest_rate():
    rate, reason, _ = choose(R, curve(lambda x: 2.3 + 0 * x))
    assert rate == pytest.approx(STOP / 10) and "whole range" in reason


@pytest.mark.parametrize("seed", range(5))
def test_noisy_curves_keep_their_rate_within_a_factor_of_3(seed):
    """Noise of 5 % per step (batch-1 losses) moves the choice little: the smoothing and the
    10 % noise margin keep it near the noise-free choice."""
    clean = choose(R, curve(falls_then_diverges))[0]
    noisy = choose(R, curve(falls_then_diverges, noise=0.05, seed=seed))[0]
    assert clean / 3 <= noisy <= clean * 3, (clean, noisy)
    flat = choose(R, curve(lambda x: np.where(x < -2, 2.3, 2.3 * 10 ** (x + 2)), noise=0.05, seed=seed))[0]
    assert 3e-4 <= flat <= 3e-3, flat


def test_a_loss_rising_from_the_start_is_clipped_to_the_smallest_rate():
    rate, reason, _ = choose(R, curve(lambda x: 2.3 * 10 ** (0.8 * (x + 5))))
    assert rate == START and "clipped" in reason


def test_a_non_finite_loss_ends_the_curve():
    losses = curve(falls_then_diverges)
    cut = 70
    assert choose(R, losses[:cut] + [None] + losses[cut + 1:])[0] == choose(R[:cut], losses[:cut])[0]
    with pytest.raises(TinyTrainError, match="not finite within the first"):
        choose(R, losses[:3] + [float("nan")] + losses[4:])


def test_smoothing_is_bias_corrected():
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])


@pytest.mark.parametrize("lr, weight, bias, message", [
    ("abc", None, None, "--lr abc: give a learning rate"), ("-1", None, None, "finite number > 0"),
    ("inf", None, None, "finite number > 0"), ("auto", 0.1, None, "not both"), (0.01, None, 0.1, "not both")])
def test_bad_lr_is_refused(lr, weight, bias, message):
    with pytest.raises(TinyTrainError, match=message):
        learning_rates(lr, weight, bias)


def test_lr_sets_both_rates():
    assert learning_rates("0.003", None, None) == (0.003, 0.003, False)
    assert learning_rates("auto", None, None) == (None, None, True)
    assert learning_rates(None, 0.1, 0.2) == (0.1, 0.2, False)


# -- on the generated C --------------------------------------------------------------------------
DATA = "cifar10:classes=0,1,2,3"


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("auto")
    lines = []
    summary = train("mcunet-5fps", "bias-only", DATA, 1, out, lr="auto", train_per_class=6, test_per_class=2,
                    progress=False, log=lines.append)
    return out, summary, lines


def test_the_range_test_chooses_a_finite_rate_in_the_range_and_records_it(auto_run):
    out, summary, lines = auto_run
    test = summary["lr_range"]
    assert START <= test["chosen"] <= STOP / 10 and np.isfinite(test["chosen"])
    assert summary["lr_weight"] == summary["lr_bias"] == test["chosen"]
    assert 10 <= len(test["rates"]) == len(test["losses"]) <= 100 and np.all(np.diff(test["rates"]) > 0)
    assert all(v is None or np.isfinite(v) for v in test["losses"]) and len(test["smoothed"]) <= len(test["rates"])
    assert json.loads((out / "history.json").read_text())["lr_range"] == test
    assert (out / "lr_range.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(line.startswith("learning-rate range test") and f"chose {test['chosen']:.3g}" in line for line in lines)


def test_the_real_run_starts_from_the_initial_parameters(auto_run, tmp_path):
    """The same run with the chosen rate given by hand has the same losses, step for step: the
    range test changed nothing the real run starts from."""
    _, summary, _ = auto_run
    fixed = train("mcunet-5fps", "bias-only", DATA, 1, tmp_path, lr=summary["lr_range"]["chosen"], train_per_class=6,
                  test_per_class=2, progress=False, log=lambda *a: None)
    assert fixed["history"]["losses"] == summary["history"]["losses"]
    assert "lr_range" not in fixed and not (tmp_path / "lr_range.png").exists()


def test_cli_train_lr_auto_prints_its_choice(tmp_path, capsys):
    assert main(["train", "mcunet-5fps", "--scheme", "bias-only", "--data", "cifar10:classes=0,1", "--epochs", "1",
                 "--train-per-class", "3", "--test-per-class", "1", "--lr", "auto", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    chosen = json.loads((tmp_path / "history.json").read_text())["lr_range"]["chosen"]
    assert f"chose {chosen:.3g}" in printed and f"lr {chosen:g} (weights) / {chosen:g} (biases)" in printed


def test_analyze_lr_auto_runs_every_trial_at_the_chosen_rate_and_resumes(tmp_path, capsys):
    argv = ["analyze", "mcunet-5fps", "--data", "cifar10:classes=0,1", "--train-per-class", "3", "--test-per-class",
            "1", "--layers", "40", "--ratios", "1", "--bias-depths", "2", "--workers", "1", "--lr", "auto",
            "--out", str(tmp_path / "r.json")]
    assert main(argv) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    chosen = results["lr_range"]["chosen"]
    assert results["config"]["lr"] == chosen and results["config"]["lr_auto"] is True and START <= chosen <= STOP / 10
    assert f"chose {chosen:.3g}" in capsys.readouterr().out and len(results["runs"]) == 3
    assert main(argv) == 0  # the same test again: the same config, so the finished analysis is resumed, not refused
    assert json.loads((tmp_path / "r.json").read_text()) == results


def test_describe_says_the_presets_rates_were_tuned_on_the_paper_backbones():
    from tvm_tinytrain.model_spec import load_model
    from tvm_tinytrain.schemes import describe, resolve_scheme

    graph = load_model("mcunet-5fps")
    assert "tuned on the paper's backbones" in describe(resolve_scheme("bias-only", graph), graph)
    assert "--lr auto" in describe(resolve_scheme("paper-100kb", graph), graph)
    assert "tuned" not in describe(resolve_scheme("bias-only", graph, lr_weight=0.01), graph)
