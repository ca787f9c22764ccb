"""Bad schemes and search inputs: each a clear error naming the file or field, before any
training graph is built."""
import json

import pytest

from bad_input_harness import Case, run_bad


def write(name, text):
    def setup(folder):
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def scheme(fields, name="s.json"):
    return write(name, json.dumps(fields))


def plan(spec, model="mcunet-5fps"):
    return ["plan", model, "--scheme", spec]


SCHEME_CASES = [
    Case("scheme-is-a-folder", plan("myscheme"), ("myscheme", "folder"), setup=lambda f: (f / "myscheme").mkdir()),
    Case("scheme-json-is-a-folder", plan("s.json"), ("s.json", "folder"), setup=lambda f: (f / "s.json").mkdir()),
    Case("scheme-missing", plan("nothere.json"), ("nothere.json", "does not exist")),
    Case("scheme-missing-in-subfolder", plan("sub/s.json"), ("sub/s.json", "does not exist")),
    Case("scheme-empty", plan("s.json"), ("s.json", "empty"), setup=write("s.json", "")),
    Case("scheme-whitespace", plan("s.json"), ("s.json", "empty"), setup=write("s.json", " \n\t")),
    Case("scheme-not-json", plan("s.json"), ("s.json", "not valid JSON", "line 1"), setup=write("s.json", "{name: x}")),
    Case("scheme-truncated", plan("s.json"), ("s.json", "not valid JSON"), setup=write("s.json", '{"n_bias_update": 3')),
    Case("scheme-top-level-array", plan("s.json"), ("s.json", "JSON object"), setup=write("s.json", "[1, 2]")),
    Case("scheme-top-level-string", plan("s.json"), ("s.json", "JSON object"), setup=write("s.json", '"bias-only"')),
    Case("scheme-not-utf8", plan("s.json"), ("s.json", "UTF-8"), setup=write("s.json", b'{"name": "\xff\xfe"}')),
    Case("scheme-nan", plan("s.json"), ("s.json", "NaN"), setup=write("s.json", '{"lr_weight": NaN}')),
    Case("scheme-infinity", plan("s.json"), ("s.json", "Infinity"), setup=write("s.json", '{"lr_bias": Infinity}')),
    Case("scheme-deep-nesting", plan("s.json"), ("s.json", "nested too deeply"),
         setup=write("s.json", '{"about": ' + "[" * 200000 + "]" * 200000 + "}")),
    Case("scheme-huge", plan("s.json"), ("s.json", "bytes"),
         setup=lambda f: open(f / "s.json", "wb").truncate(64 << 20)),
    Case("scheme-unknown-key", plan("s.json"), ("s.json", "unknown key", "weight_layer"),
         setup=scheme({"weight_layer": [40]})),
    Case("scheme-name-not-string", plan("s.json"), ("s.json", "name must be a string"), setup=scheme({"name": 5})),
    Case("scheme-name-newline", plan("s.json"), ("s.json", "name must be one line"),
         setup=scheme({"name": "a\nerror: fake"})),
    Case("scheme-name-empty", plan("s.json"), ("s.json", "name must be one line"), setup=scheme({"name": ""})),
    Case("scheme-name-long", plan("s.json"), ("s.json", "name must be one line"), setup=scheme({"name": "x" * 201})),
    Case("scheme-qas-string", plan("s.json"), ("s.json", "qas must be true or false"), setup=scheme({"qas": "yes"})),
    Case("scheme-lr-negative", plan("s.json"), ("s.json", "lr_weight", ">= 0"), setup=scheme({"lr_weight": -1})),
    Case("scheme-lr-string", plan("s.json"), ("s.json", "lr_bias"), setup=scheme({"lr_bias": "0.1"})),
    Case("scheme-n-bias-negative", plan("s.json"), ("s.json", "n_bias_update"), setup=scheme({"n_bias_update": -1})),
    Case("scheme-n-bias-too-many", plan("s.json"), ("s.json", "n_bias_update = 1000"),
         setup=scheme({"n_bias_update": 1000})),
    Case("scheme-n-bias-bool", plan("s.json"), ("s.json", "n_bias_update"), setup=scheme({"n_bias_update": True})),
    Case("scheme-layers-not-list", plan("s.json"), ("s.json", "weight_layers"), setup=scheme({"weight_layers": "5"})),
    Case("scheme-layer-float", plan("s.json"), ("s.json", "weight_layers entries"),
         setup=scheme({"weight_layers": [5.5]})),
    Case("scheme-ratio-not-allowed", plan("s.json"), ("s.json", "weight_ratios[0]", "0.3"),
         setup=scheme({"weight_layers": [40], "weight_ratios": [0.3]})),
    Case("scheme-ratio-count", plan("s.json"), ("s.json", "1 weight_layers but 2 weight_ratios"),
         setup=scheme({"weight_layers": [40], "weight_ratios": [1, 1]})),
    Case("scheme-layer-index-out-of-range", plan("s.json"), ("s.json", "999"),
         setup=scheme({"weight_layers": [999]})),
    Case("scheme-layer-name-unknown", plan("s.json"), ("s.json", "blocks.99.depthwise"),
         setup=scheme({"weight_layers": ["blocks.99.depthwise"]})),
    Case("scheme-bias-layer-unknown", plan("s.json"), ("s.json", "nope"), setup=scheme({"bias_layers": ["nope"]})),
    Case("scheme-other-model", plan("s.json"), ("s.json", "mbv2-w0.35", "mcunet-5fps"),
         setup=scheme({"model": "mbv2-w0.35"})),
    Case("preset-unknown", plan("bias-onyl"), ("bias-onyl", "bias-only")),
    Case("preset-last-0", plan("last-0"), ("last-0", "last-1")),
    Case("preset-last-too-many", plan("last-99"), ("last-99", "blocks")),
    Case("preset-paper-unknown-size", plan("paper-1kb"), ("paper-1kb", "paper-49kb")),
    Case("preset-paper-other-model", plan("paper-100kb", "tvm_tinytrain.models.tiny_resnet:build"),
         ("paper-100kb", "released schemes only for")),
    # the option flags of options.py: checked as the scheme keys are, before any graph is built
    Case("flag-lr-weight-negative", plan("bias-only") + ["--lr-weight", "-1"],
         ("override: lr_weight must be a finite number >= 0", "-1.0")),
    Case("flag-lr-bias-nan", ["compile", "mcunet-5fps", "--scheme", "bias-only", "--out", "o", "--lr-bias", "nan"],
         ("override: lr_bias must be a finite number >= 0", "nan")),
    Case("flag-lr-weight-not-a-number", plan("bias-only") + ["--lr-weight", "fast"], ("--lr-weight", "fast")),
    Case("flag-qas-with-a-value", plan("bias-only") + ["--qas=no"], ("--qas", "no")),
]


def results(config=None, runs=None, drop=()):
    base = {"config": {"model": "mcunet-5fps", "data": "cifar10", "train_per_class": 20, "test_per_class": 20,
                       "epochs": 1, "lr": 0.01, "seed": 0},
            "runs": {"baseline": {"accuracy": 0.5, "loss": 1.0, "seconds": 1.0, "kind": "baseline", "k": 0,
                                  "layer": -1, "ratio": 0.0}}}
    base["config"].update(config or {})
    base["runs"].update(runs or {})
    for key in drop:
        base.pop(key, None) if key in base else base["config"].pop(key)
    return write("contrib.json", json.dumps(base))


def search(contrib="contrib.json", model="mcunet-5fps", budget="1MB", out="found.json"):
    return ["search", model, "--contrib", contrib, f"--budget={budget}", "--out", out]


def run(kind, key, **fields):
    return {key: {"kind": kind, "accuracy": 0.6, "k": 0, "layer": -1, "ratio": 0.0, **fields}}


SEARCH_CASES = [
    Case("contrib-missing", search(), ("contrib.json", "does not exist", "analyze")),
    Case("contrib-folder", search(), ("contrib.json", "folder"), setup=lambda f: (f / "contrib.json").mkdir()),
    Case("contrib-empty", search(), ("contrib.json", "empty"), setup=write("contrib.json", "")),
    Case("contrib-not-json", search(), ("contrib.json", "not valid JSON"), setup=write("contrib.json", "runs: 3")),
    Case("contrib-array", search(), ("contrib.json", "JSON object"), setup=write("contrib.json", "[]")),
    Case("contrib-no-config", search(), ("contrib.json", "'config'", "missing"), setup=results(drop=("config",))),
    Case("contrib-no-runs", search(), ("contrib.json", "'runs'", "missing"), setup=results(drop=("runs",))),
    Case("contrib-runs-list", search(), ("contrib.json", "'runs'", "not an object"),
         setup=write("contrib.json", json.dumps({"config": {"model": "mcunet-5fps", "lr": 0.1}, "runs": []}))),
    Case("contrib-no-model", search(), ("contrib.json", "'model'"), setup=results(drop=("model",))),
    Case("contrib-no-lr", search(), ("contrib.json", "'lr'"), setup=results(drop=("lr",))),
    Case("contrib-lr-string", search(), ("contrib.json", "'lr'", "wrong type"), setup=results({"lr": "fast"})),
    Case("contrib-lr-zero", search(), ("contrib.json", "'lr'", "positive"), setup=results({"lr": 0})),
    Case("contrib-model-list", search(), ("contrib.json", "'model'"), setup=results({"model": ["os:system"]})),
    Case("contrib-epochs-float", search(), ("contrib.json", "'epochs'"), setup=results({"epochs": 1.5})),
    Case("contrib-no-baseline", search(), ("baseline",),
         setup=write("contrib.json", json.dumps({"config": {"model": "mcunet-5fps", "lr": 0.1}, "runs": {}}))),
    Case("contrib-run-not-object", search(), ("contrib.json", "'bias:3'", "not an object"),
         setup=results(runs={"bias:3": 0.5})),
    Case("contrib-run-kind", search(), ("contrib.json", "kind 'magic'"), setup=results(runs=run("magic", "x"))),
    Case("contrib-run-accuracy-high", search(), ("contrib.json", "accuracy", "0..1"),
         setup=results(runs=run("bias", "bias:3", k=3, accuracy=2.0))),
    Case("contrib-run-accuracy-nan", search(), ("contrib.json", "NaN"),
         setup=write("contrib.json", '{"config": {"model": "mcunet-5fps", "lr": 0.1}, "runs": {"baseline": '
                                     '{"kind": "baseline", "accuracy": NaN}}}')),
    Case("contrib-run-accuracy-string", search(), ("contrib.json", "accuracy"),
         setup=results(runs=run("bias", "bias:3", k=3, accuracy="high"))),
    Case("contrib-run-k-zero", search(), ("contrib.json", "k >= 1"), setup=results(runs=run("bias", "bias:0", k=0))),
    Case("contrib-run-k-float", search(), ("contrib.json", "not an integer"),
         setup=results(runs=run("bias", "bias:3", k=3.0))),
    Case("contrib-run-ratio", search(), ("contrib.json", "ratio"),
         setup=results(runs=run("weight", "weight:40:0.3", layer=40, ratio=0.3))),
    Case("contrib-run-key-mismatch", search(), ("contrib.json", "'bias:5'", "disagree"),
         setup=results(runs=run("bias", "bias:3", k=5))),
    Case("contrib-run-layer-out-of-range", search(), ("names conv 70", "0..41"),
         setup=results(runs=run("weight", "weight:70:1", layer=70, ratio=1.0))),
    Case("contrib-run-bias-depth-too-deep", search(), ("last 90 convs",),
         setup=results(runs=run("bias", "bias:90", k=90))),
    Case("contrib-other-model", search(model="mbv2-w0.35"), ("mcunet-5fps", "not of 'mbv2-w0.35'"), setup=results()),
    Case("contrib-names-code", search(), ("os:system", "not of 'mcunet-5fps'"), setup=results({"model": "os:system"})),
    Case("search-without-model", ["search", "--contrib", "contrib.json", "--budget", "1MB", "--out", "x.json"],
         ("model",), setup=results()),
    Case("search-budget-words", search(budget="lots"), ("budget 'lots'", "100KB"), setup=results()),
    Case("search-budget-negative", search(budget="-5KB"), ("budget '-5KB'",), setup=results()),
    Case("analyze-ratio-not-allowed",
         ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "r.json", "--ratios", "0.3", "--layers", "40"],
         ("ratio 0.3",)),
    Case("analyze-layer-out-of-range",
         ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "r.json", "--layers", "42"], ("layer index 42",)),
    Case("analyze-bias-depth-zero",
         ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "r.json", "--bias-depths", "0"], ("bias depth 0",)),
]


@pytest.mark.parametrize("case", SCHEME_CASES + SEARCH_CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)


RESUME_CASES = [
    Case("analyze-resume-corrupt", ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "contrib.json"],
         ("contrib.json", "not valid JSON"), setup=write("contrib.json", '{"config": ')),
    Case("analyze-resume-bad-run", ["analyze", "mcunet-5fps", "--data", "cifar10", "--out", "contrib.json"],
         ("contrib.json", "accuracy"), setup=results(runs=run("bias", "bias:3", k=3, accuracy=-1))),
]


@pytest.mark.parametrize("case", RESUME_CASES, ids=repr)
def test_resumed_analysis_checks_its_file(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
