"""Sparse-update schemes: the paper's 15 schemes, presets, JSON files, overrides, every error path."""
import json
import re

import numpy as np
import pytest

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.graph import Graph, Layer
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import (RATIOS, block_of, blocks, describe, input_channels, load_spec, paper_schemes,
                                   resolve_scheme, save_scheme)

PAPER = [(model, kb) for model in BACKBONES for kb in paper_schemes(model)]


@pytest.fixture(scope="module")
def backbones():
    return {name: load_backbone(name) for name in BACKBONES}


@pytest.fixture(scope="module")
def mcunet(backbones):
    return backbones["mcunet-5fps"]


@pytest.fixture(scope="module")
def resnet():
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.frontend.torch import from_torch
    from tvm_tinytrain.models.tiny_resnet import build

    return to_graph(from_torch(*build()))


def names(graph, indices):
    layers = graph.weight_layers()
    return tuple(layers[i].name for i in indices)


def raises(pattern):
    return pytest.raises(TinyTrainError, match=re.escape(pattern))


# --------------------------------------------------------------------------- the paper's schemes

def test_packaged_paper_schemes_are_the_shared_ones():
    models = paper_schemes()
    assert sorted(models) == sorted(BACKBONES)
    assert sum(len(s) for s in models.values()) == 15 and len(PAPER) == 15
    for schemes in models.values():
        for entry in schemes.values():
            assert len(entry["weight_layers"]) == len(entry["weight_ratios"])
            assert all(r in RATIOS for r in entry["weight_ratios"])
    assert paper_schemes("mcunet-5fps")["99kb"] == {
        "n_bias_update": 22, "weight_layers": [21, 24, 27, 30, 36, 39],
        "weight_ratios": [1, 1, 1, 1, 0.125, 0.25]}


@pytest.mark.parametrize("model,kb", PAPER)
def test_every_paper_scheme_resolves_for_its_model(backbones, model, kb):
    graph = backbones[model]
    entry = paper_schemes(model)[kb]
    scheme = resolve_scheme(f"paper-{kb}", graph)
    weight_layers = graph.weight_layers()
    n = len(weight_layers)
    assert scheme.name == f"paper-{kb}"
    # n_bias_update counts the convs from the end (the classifier excluded); the classifier's
    # bias comes from train_classifier
    assert scheme.bias == names(graph, range(n - 1 - entry["n_bias_update"], n - 1)) + ("classifier",)
    expected = {}
    for index, ratio in zip(entry["weight_layers"], entry["weight_ratios"]):
        assert 0 <= index < n - 1, "paper indices name conv layers of this backbone"
        layer = weight_layers[index]
        if ratio:
            expected[layer.name] = round(ratio * input_channels(layer))
            assert expected[layer.name] == int(ratio * input_channels(layer))  # the paper's int() agrees
    expected["classifier"] = weight_layers[-1].params["weight"].shape[1]
    assert scheme.weights == expected
    assert list(scheme.weights) == [l.name for l in weight_layers if l.name in expected]  # graph order
    assert (scheme.lr_weight, scheme.lr_bias, scheme.qas, scheme.fp32_classifier) == (0.05, 0.05, True, False)


@pytest.mark.parametrize("model,kb", PAPER)
def test_paper_schemes_update_the_bias_of_every_weight_updated_layer(backbones, model, kb):
    """The paper's training code (algorithm/core/utils/partial_backward.py) asserts that every
    layer whose weights are updated also has its bias updated; with n_bias_update counting
    convs only, all 15 released schemes satisfy it."""
    graph = backbones[model]
    entry = paper_schemes(model)[kb]
    scheme = resolve_scheme(f"paper-{kb}", graph)
    weight_layers = graph.weight_layers()
    for index, ratio in zip(entry["weight_layers"], entry["weight_ratios"]):
        if ratio > 0:
            assert weight_layers[index].name in scheme.bias, (model, kb, index)
    assert set(scheme.weights) <= set(scheme.bias)


def test_mcunet_99kb(mcunet):
    scheme = resolve_scheme("paper-99kb", mcunet)
    assert len(scheme.bias) == 23  # n_bias_update = 22 convs + the classifier
    assert scheme.bias == names(mcunet, range(20, 42)) + ("classifier",)
    assert mcunet.layer(scheme.bias[0]).conv_index == 20 and scheme.bias[0] == "blocks.6.pointwise2"
    assert scheme.bias[-2] == "blocks.13.pointwise2" and scheme.bias[-1] == "classifier"
    assert scheme.weights == {
        "blocks.7.pointwise1": 40,   # ratio 1 of 40 input channels
        "blocks.8.pointwise1": 48,
        "blocks.9.pointwise1": 48,
        "blocks.10.pointwise1": 48,
        "blocks.12.pointwise1": 12,  # ratio 1/8 of 96
        "blocks.13.pointwise1": 24,  # ratio 1/4 of 96
        "classifier": 160,           # the head is always trained, whole
    }
    assert mcunet.layer("blocks.7.pointwise1").params["weight"].shape[1] == 40
    assert mcunet.layer("blocks.12.pointwise1").params["weight"].shape[1] == 96


def test_depthwise_ratio_counts_channels(backbones):
    """MbV2 paper-49kb updates 1/8 of the depthwise conv blocks.16.depthwise (336 channels)."""
    graph = backbones["mbv2-w0.35"]
    assert graph.layer("blocks.16.depthwise").params["weight"].shape == (336, 1, 3, 3)
    scheme = resolve_scheme("paper-49kb", graph)
    assert scheme.weights["blocks.16.depthwise"] == 42
    assert "blocks.13.depthwise" not in scheme.weights  # ratio 0: bias only
    assert "blocks.13.depthwise" in scheme.bias


@pytest.mark.parametrize("model,target", [("mcunet-5fps", "99kb"), ("mbv2-w0.35", "99kb"),
                                          ("proxyless-w0.3", "98kb")])
def test_paper_100kb_alias(backbones, model, target):
    graph = backbones[model]
    alias = resolve_scheme("paper-100kb", graph)
    assert alias == resolve_scheme(f"paper-{target}", graph)
    assert alias.name == f"paper-{target}"


def test_other_aliases(backbones):
    assert resolve_scheme("paper-75kb", backbones["mbv2-w0.35"]).name == "paper-73kb"
    assert resolve_scheme("paper-150kb", backbones["proxyless-w0.3"]).name == "paper-148kb"


# --------------------------------------------------------------------------- presets

def test_presets_on_a_backbone(mcunet):
    n = len(mcunet.weight_layers())
    bias_only = resolve_scheme("bias-only", mcunet)
    assert bias_only.bias == names(mcunet, range(n)) and bias_only.weights == {"classifier": 160}

    last2 = resolve_scheme("last-2", mcunet)
    assert last2.bias == names(mcunet, range(36, 43))
    assert list(last2.weights) == list(names(mcunet, range(36, 43)))
    assert last2.weights["blocks.12.depthwise"] == 384 and last2.weights["blocks.13.pointwise2"] == 576
    assert last2.name == "last-2"

    full = resolve_scheme("full", mcunet)
    assert full.bias == names(mcunet, range(n))
    assert full.weights == {l.name: input_channels(l) for l in mcunet.weight_layers()}
    assert full.weights["first_conv"] == 3 and full.weights["blocks.0.depthwise"] == 16


def test_backbone_blocks(backbones):
    mcunet = blocks(backbones["mcunet-5fps"])
    assert list(mcunet)[:2] == ["first_conv", "blocks.0"] and list(mcunet)[-1] == "blocks.13"
    assert len(mcunet) == 15 and "classifier" not in mcunet
    assert mcunet["blocks.13"] == ["blocks.13.pointwise1", "blocks.13.depthwise", "blocks.13.pointwise2"]
    assert len(blocks(backbones["mbv2-w0.35"])) == 18 and len(blocks(backbones["proxyless-w0.3"])) == 21


@pytest.mark.parametrize("name,block", [
    ("blocks.12.pointwise1", "blocks.12"), ("first_conv", "first_conv"),
    ("blocks.3.pointwise1.0", "blocks.3"), ("first_conv.0", "first_conv"),  # models/mobilenetv2.py via torch
    ("stem.0", "stem"), ("layer1.conv1", "layer1"), ("layer2.downsample.0", "layer2"),  # tiny_resnet
    ("layer2.0.conv1", "layer2.0"), ("layer2.0.downsample.0", "layer2.0"), ("conv1", "conv1"),  # torchvision resnet
    ("features.0.0", "features.0"), ("features.3.conv.0.0", "features.3"), ("features.3.conv.2", "features.3"),
])
def test_block_of(name, block):
    assert block_of(name) == block


def test_presets_on_tiny_resnet(resnet):
    assert blocks(resnet) == {"stem": ["stem.0"], "layer1": ["layer1.conv1", "layer1.conv2"],
                              "layer2": ["layer2.conv1", "layer2.conv2", "layer2.downsample.0"]}
    every = tuple(l.name for l in resnet.weight_layers())
    assert resnet.output == "classifier" and every[-1] == "classifier"

    bias_only = resolve_scheme("bias-only", resnet)
    assert bias_only.bias == every and bias_only.weights == {"classifier": 32}

    last1 = resolve_scheme("last-1", resnet)
    assert last1.bias == ("layer2.conv1", "layer2.conv2", "layer2.downsample.0", "classifier")
    assert last1.weights == {"layer2.conv1": 16, "layer2.conv2": 32, "layer2.downsample.0": 16, "classifier": 32}

    last2 = resolve_scheme("last-2", resnet)
    assert last2.bias == every[1:]
    assert last2.weights == {"layer1.conv1": 16, "layer1.conv2": 16, "layer2.conv1": 16, "layer2.conv2": 32,
                             "layer2.downsample.0": 16, "classifier": 32}

    full = resolve_scheme("full", resnet)
    assert full.bias == every and full.weights == {"stem.0": 3, **last2.weights}


def test_overrides(mcunet):
    scheme = resolve_scheme("paper-99kb", mcunet, lr_weight=0.1, lr_bias=0.02, qas=False, fp32_classifier=True)
    assert (scheme.lr_weight, scheme.lr_bias, scheme.qas, scheme.fp32_classifier) == (0.1, 0.02, False, True)
    file_values = {"weight_layers": [41], "lr_weight": 0.3, "qas": False}
    kept = resolve_scheme(file_values, mcunet, lr_weight=None, qas=None)
    assert kept.lr_weight == 0.3 and kept.qas is False
    assert resolve_scheme(file_values, mcunet, lr_weight=0.01).lr_weight == 0.01


# --------------------------------------------------------------------------- the format

def test_dict_with_indices_and_names(mcunet):
    spec = {"name": "mine", "n_bias_update": 3, "bias_layers": ["blocks.5.depthwise"],
            "weight_layers": [40, "blocks.13.pointwise2"], "weight_ratios": [0.5, 0.25],
            "train_classifier": False}
    scheme = resolve_scheme(spec, mcunet)
    assert scheme.name == "mine"
    # the last 3 convs; without train_classifier the classifier's bias is not counted
    assert scheme.bias == ("blocks.5.depthwise", "blocks.13.pointwise1", "blocks.13.depthwise",
                           "blocks.13.pointwise2")
    assert scheme.weights == {"blocks.13.depthwise": 288, "blocks.13.pointwise2": 144}
    assert resolve_scheme({"weight_layers": [41]}, mcunet).weights == {"blocks.13.pointwise2": 576,
                                                                      "classifier": 160}
    assert resolve_scheme({}, mcunet).name == "custom"


def test_n_bias_update_counts_convs_only(mcunet):
    convs = names(mcunet, range(42))
    assert resolve_scheme({"n_bias_update": 2}, mcunet).bias == convs[-2:] + ("classifier",)
    assert resolve_scheme({"n_bias_update": 0}, mcunet).bias == ("classifier",)
    frozen_head = {"train_classifier": False}
    assert resolve_scheme({"n_bias_update": 2, **frozen_head}, mcunet).bias == convs[-2:]
    assert resolve_scheme({"n_bias_update": "all", **frozen_head}, mcunet).bias == convs
    assert resolve_scheme({"n_bias_update": "all"}, mcunet).bias == convs + ("classifier",)
    # without train_classifier the classifier gets a bias update only when named
    for ref in (42, "classifier"):
        named = resolve_scheme({"n_bias_update": 1, "bias_layers": [ref], **frozen_head}, mcunet)
        assert named.bias == ("blocks.13.pointwise2", "classifier") and named.weights == {}


def test_json_file_round_trip(mcunet, tmp_path):
    path = save_scheme(load_spec("paper-99kb", mcunet), tmp_path / "s.json")
    assert json.loads(path.read_text())["weight_layers"] == [21, 24, 27, 30, 36, 39]
    assert resolve_scheme(path, mcunet) == resolve_scheme("paper-99kb", mcunet)
    assert resolve_scheme(str(path), mcunet) == resolve_scheme("paper-99kb", mcunet)

    custom = {"weight_layers": ["blocks.12.pointwise1", 39], "weight_ratios": [0.125, 1], "n_bias_update": 7,
              "lr_bias": 0.01, "qas": False}
    path = save_scheme(custom, tmp_path / "custom.json")
    from_file = resolve_scheme(path, mcunet)
    assert from_file == Scheme("custom", resolve_scheme(custom, mcunet).bias,
                               {"blocks.12.pointwise1": 12, "blocks.13.pointwise1": 96, "classifier": 160},
                               lr_bias=0.01, qas=False)  # default name: the file's stem

    preset = save_scheme(load_spec("last-2", mcunet), tmp_path / "last2.json")
    assert resolve_scheme(preset, mcunet) == resolve_scheme("last-2", mcunet)


def test_describe(mcunet):
    text = describe(resolve_scheme("paper-99kb", mcunet), mcunet)
    assert "'paper-99kb' on mcunet-5fps" in text and "23 bias layers" in text
    assert "indices 20..42" in text
    assert re.search(r"36 blocks\.12\.pointwise1\s+12/96 input channels", text)
    assert "classifier (42), weight 160/160 input channels and bias" in text
    assert "6 weight layers + classifier trained" in text
    frozen = describe(resolve_scheme({"n_bias_update": 0, "train_classifier": False}, mcunet), mcunet)
    assert "biases:  none" in frozen and "classifier not trained" in frozen


# --------------------------------------------------------------------------- errors

def test_layer_index_out_of_range(mcunet):
    for bad in (43, -1):
        with raises("layer index") as err:
            resolve_scheme({"weight_layers": [bad]}, mcunet)
        assert "mcunet-5fps has scheme indices 0..42" in str(err.value) and "42 = classifier" in str(err.value)


def test_unknown_layer_name(mcunet):
    with raises("names layer 'blocks.99.depthwise', which mcunet-5fps does not have"):
        resolve_scheme({"weight_layers": ["blocks.99.depthwise"]}, mcunet)
    with raises("did you mean 'blocks.7.pointwise1'"):
        resolve_scheme({"bias_layers": ["blocks.7.pointwse1"]}, mcunet)


@pytest.mark.parametrize("ratio", [0.3, 2, -0.5, True, "1/8"])
def test_bad_ratio(mcunet, ratio):
    with raises("is not an allowed ratio; use 0, 1/8 (0.125), 1/4 (0.25), 1/2 (0.5) or 1"):
        resolve_scheme({"weight_layers": [40], "weight_ratios": [ratio]}, mcunet)


def test_length_mismatch(mcunet):
    with raises("2 weight_layers but 1 weight_ratios; give one ratio per layer"):
        resolve_scheme({"weight_layers": [39, 40], "weight_ratios": [1]}, mcunet)


def test_too_many_biases(mcunet):
    with raises("n_bias_update = 43 but mcunet-5fps has only 42 conv layers "
                "(indices 0..41; the classifier 'classifier' is not counted); use at most 42 or \"all\"") as err:
        resolve_scheme({"n_bias_update": 43}, mcunet)
    assert "list it in bias_layers" in str(err.value)
    assert len(resolve_scheme({"n_bias_update": 42}, mcunet).bias) == 43  # 42 convs + the classifier
    assert len(resolve_scheme({"n_bias_update": 42, "train_classifier": False}, mcunet).bias) == 42


def test_too_many_blocks(mcunet, resnet):
    with raises("preset last-16: mcunet-5fps has 15 blocks"):
        resolve_scheme("last-16", mcunet)
    with raises("use last-1 .. last-3"):
        resolve_scheme("last-4", resnet)
    with raises("use last-1 .. last-15"):
        resolve_scheme("last-0", mcunet)


def test_layer_without_weights(mcunet, resnet):
    with raises("names layer 'pool', an avgpool layer with no weights or bias"):
        resolve_scheme({"weight_layers": ["pool"]}, mcunet)
    with raises("names layer 'blocks.2.residual', an add layer with no weights"):
        resolve_scheme({"bias_layers": ["blocks.2.residual"]}, mcunet)
    with raises("names layer 'add2', an add layer"):
        resolve_scheme({"weight_layers": ["add2"]}, resnet)


def test_unknown_preset(mcunet, resnet):
    with raises("unknown scheme 'bias_only' (did you mean 'bias-only'?)") as err:
        resolve_scheme("bias_only", mcunet)
    message = str(err.value)
    assert "bias-only, last-<k> (k = 1..15" in message and "full" in message
    assert "paper-49kb, paper-74kb, paper-99kb, paper-124kb, paper-148kb" in message
    with raises("the paper's schemes exist only for"):
        resolve_scheme("everything", resnet)


def test_paper_scheme_for_other_model(resnet):
    with raises("the paper released schemes only for mbv2-w0.35, mcunet-5fps, proxyless-w0.3; "
                "'TinyResNet' is not one of them"):
        resolve_scheme("paper-99kb", resnet)


def test_paper_scheme_that_does_not_exist(backbones):
    with raises("the paper has no such scheme for mbv2-w0.35; its schemes are paper-49kb, paper-73kb"):
        resolve_scheme("paper-200kb", backbones["mbv2-w0.35"])


def test_malformed_json_file(mcunet, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"n_bias_update": 3,, }')
    with raises(f"scheme file {broken} is not valid JSON") as err:
        resolve_scheme(broken, mcunet)
    assert "line 1" in str(err.value)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with raises(f"scheme file {listed}: expected a JSON object"):
        resolve_scheme(str(listed), mcunet)
    with raises(f"scheme file {tmp_path / 'missing.json'} does not exist"):
        resolve_scheme(str(tmp_path / "missing.json"), mcunet)


def test_unknown_keys(mcunet, tmp_path):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"n_bias_updates": 3}))
    with raises(f"scheme file {path}: unknown key 'n_bias_updates' (did you mean 'n_bias_update'?); "
                f"the allowed keys are name, model, about, n_bias_update"):
        resolve_scheme(path, mcunet)
    with raises("unknown override 'lr'; the overrides are lr_weight, lr_bias, qas, fp32_classifier"):
        resolve_scheme("bias-only", mcunet, lr=0.1)


@pytest.mark.parametrize("key,value,expected", [
    ("qas", "yes", "qas must be true or false"),
    ("lr_weight", -1, "lr_weight must be a finite number >= 0"),
    ("n_bias_update", True, 'n_bias_update must be an integer >= 0 or "all"'),
    ("weight_layers", 5, "weight_layers must be a list"),
    ("bias_layers", [1.5], "bias_layers entries are layer indices (int) or layer names (str)"),
])
def test_bad_values(mcunet, key, value, expected):
    with raises(expected):
        resolve_scheme({key: value}, mcunet)


def test_override_type_is_checked(mcunet):
    with raises("override: lr_bias must be a finite number >= 0"):
        resolve_scheme("bias-only", mcunet, lr_bias=float("nan"))


def test_model_mismatch(backbones):
    spec = load_spec("paper-99kb", backbones["mcunet-5fps"])
    with raises("is written for model 'mcunet-5fps' but the graph is 'mbv2-w0.35'"):
        resolve_scheme(spec, backbones["mbv2-w0.35"])


def test_layer_listed_twice(mcunet):
    with raises("weight_layers names layer 'blocks.13.pointwise1' twice (39 and 'blocks.13.pointwise1')"):
        resolve_scheme({"weight_layers": [39, "blocks.13.pointwise1"]}, mcunet)


def test_partial_classifier_conflicts_with_train_classifier(mcunet):
    with raises("the classifier 'classifier' is in weight_layers with a ratio below 1"):
        resolve_scheme({"weight_layers": [42], "weight_ratios": [0.5]}, mcunet)
    partial = resolve_scheme({"weight_layers": [42], "weight_ratios": [0.5], "train_classifier": False}, mcunet)
    assert partial.weights == {"classifier": 80} and partial.bias == ()


def test_train_classifier_needs_a_weight_output():
    conv = Layer("conv", "conv2d", ("input",), (4, 2, 2), {"groups": 1},
                 {"weight": np.zeros((4, 3, 1, 1), np.float32), "bias": np.zeros(4, np.float32)})
    pool = Layer("pool", "avgpool", ("conv",), (4, 1, 1))
    graph = Graph("headless", (3, 2, 2), [conv, pool])
    with raises("output layer 'pool' of headless is an avgpool with no weights; set train_classifier to false"):
        resolve_scheme("bias-only", graph)
    scheme = resolve_scheme({"n_bias_update": "all", "weight_layers": ["conv"], "train_classifier": False}, graph)
    assert scheme.bias == ("conv",) and scheme.weights == {"conv": 3}
    assert blocks(graph) == {"conv": ["conv"]}


def test_bad_spec_type_and_bad_save(mcunet, tmp_path):
    with raises("expected a preset name, a .json file or a dict, got int"):
        resolve_scheme(3, mcunet)
    with raises("scheme to save: unknown key 'ratios'"):
        save_scheme({"ratios": [1]}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_preset_names_win_over_files(mcunet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").write_text(json.dumps({"n_bias_update": 1}))
    assert resolve_scheme("full", mcunet).weights["first_conv"] == 3  # the preset
    file_scheme = resolve_scheme("./full", mcunet)                     # the file
    assert file_scheme.bias == ("blocks.13.pointwise2", "classifier") and file_scheme.name == "full"
