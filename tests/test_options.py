"""options.py declares every scheme / compile option once: the scheme keys, their checks and
defaults, the overrides, `describe`, the CLI flags and the docs table all follow from OPTIONS."""
import argparse

import pytest

from tvm_tinytrain import options, schemes
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.cli import build_parser
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.options import OPTIONS, OVERRIDES, check_value, overrides_from


@pytest.fixture(scope="module")
def graph():
    return load_backbone("mcunet-5fps", num_classes=10)


def test_the_docs_table_is_up_to_date():
    text = options.TABLE_PATH.read_text()
    assert options.docs_with_table(text) == text, "docs/schemes.md is stale: run python -m tvm_tinytrain.options"
    for o in OPTIONS:
        assert f"| `{o.name}` | {'yes' if o.scheme_key else 'no'} |" in text


def test_schemes_read_the_declarations():
    assert schemes.KEYS == tuple(o.name for o in OPTIONS if o.scheme_key)
    assert schemes.OVERRIDES == OVERRIDES == ("lr_weight", "lr_bias", "qas", "fp32_classifier", "momentum",
                                              "float_copy", "loss")


def test_a_preset_takes_every_declared_default(graph):
    scheme = schemes.resolve_scheme("last-1", graph)
    for name in OVERRIDES:
        assert getattr(scheme, name) == options.BY_NAME[name].default


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_checks_its_value(option):
    with pytest.raises(TinyTrainError, match=rf"^somewhere: {option.name} must be .*, got <object"):
        check_value(option.name, object(), "somewhere")


@pytest.mark.parametrize("key, value", [("lr_weight", -0.1), ("lr_bias", float("nan")), ("qas", 1),
                                        ("fp32_classifier", "yes"), ("float_copy", 1), ("loss", "l2")])
def test_an_override_is_checked_as_the_json_key_is(graph, key, value):
    with pytest.raises(TinyTrainError, match=rf"override: {key} must be"):
        schemes.resolve_scheme("bias-only", graph, **{key: value})
    with pytest.raises(TinyTrainError, match=rf"scheme: {key} must be"):
        schemes.resolve_scheme({key: value}, graph)


@pytest.mark.parametrize("command", ["plan", "compile", "train"])
def test_every_command_has_the_flags_it_declares(command):
    base = {"plan": ["plan", "m", "--scheme", "s"], "compile": ["compile", "m", "--scheme", "s", "--out", "o"],
            "train": ["train", "m", "--scheme", "s", "--data", "d", "--epochs", "1"]}[command]
    parser = build_parser()
    assert overrides_from(parser.parse_args(base)) == {}  # absent flags keep the scheme's values
    args = parser.parse_args(base + ["--lr-weight", "0.01", "--lr-bias", "0.02", "--no-qas", "--fp32-classifier",
                                     "--float-copy"])
    assert overrides_from(args) == {"lr_weight": 0.01, "lr_bias": 0.02, "qas": False, "fp32_classifier": True,
                                    "float_copy": True}
    assert parser.parse_args(base + ["--qas"]).qas is True
    declared = {o.name for o in OPTIONS if command in o.commands}
    assert ("check" in declared) == (command != "train")
    if "check" in declared:
        assert parser.parse_args(base + ["--check"]).check is True and parser.parse_args(base).check is False


def test_describe_reads_the_summaries(graph):
    scheme = schemes.resolve_scheme("bias-only", graph, qas=False, fp32_classifier=True, lr_bias=0.01)
    first = schemes.describe(scheme, graph).splitlines()[0]
    assert first.endswith("; lr_weight 0.05, lr_bias 0.01, QAS off, fp32 classifier")


def test_the_cli_overrides_reach_the_plan(capsys):
    from tvm_tinytrain.cli import main

    assert main(["plan", "mcunet-5fps", "--scheme", "bias-only", "--no-qas", "--lr-bias", "0.01", "--check"]) == 0
    assert "lr_bias 0.01, QAS off, int8 classifier" in capsys.readouterr().out
    assert main(["plan", "mcunet-5fps", "--scheme", "bias-only", "--lr-weight", "-1"]) == 2
    assert "error: override: lr_weight must be a finite number >= 0, got -1.0" in capsys.readouterr().err


def test_the_loss_flag_takes_a_name():
    """A string option is a --flag NAME (no float conversion); its value is checked as the JSON key's is."""
    parser = argparse.ArgumentParser()
    options.add_flags(parser, "train")
    assert options.overrides_from(parser.parse_args(["--loss", "mse"]))["loss"] == "mse"
    assert "loss" not in options.overrides_from(parser.parse_args([]))
