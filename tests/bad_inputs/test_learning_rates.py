"""Bad `--lr` values of train and analyze: each refused in one line naming --lr and the fix,
before any data is loaded or anything written."""
import pytest

from bad_input_harness import Case, run_bad


def train(*lr):
    return ["train", "mcunet-5fps", "--scheme", "bias-only", "--data", "cifar10", "--epochs", "1", "--out", "o", *lr]


def analyze(*lr):
    return ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "r.json", *lr]


CASES = [
    Case("train-lr-word", train("--lr", "fast"), ("--lr fast", "'auto'")),
    Case("train-lr-zero", train("--lr", "0"), ("--lr 0", "> 0")),
    Case("train-lr-negative", train("--lr", "-0.1"), ("--lr -0.1", "> 0")),
    Case("train-lr-nan", train("--lr", "nan"), ("--lr nan", "finite")),
    Case("train-lr-inf", train("--lr", "1e999"), ("--lr inf", "finite")),
    Case("train-lr-and-lr-weight", train("--lr", "auto", "--lr-weight", "0.01"), ("--lr auto", "not both")),
    Case("train-lr-and-lr-bias", train("--lr", "0.01", "--lr-bias", "0.01"), ("--lr 0.01", "not both")),
    Case("analyze-lr-word", analyze("--lr", "Auto!"), ("--lr Auto!", "'auto'")),
    Case("analyze-lr-negative", analyze("--lr", "-1"), ("--lr -1", "> 0")),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_learning_rate(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
    assert not (tmp_path / "o").exists() and not (tmp_path / "r.json").exists()
