"""The paper's int8 backbones: structure, error paths, and TVM == numpy reference on real images."""
import json
import shutil

import numpy as np
import pytest
from data_isolation import only_this_data

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.data.images import center_crop_resize, to_int8_input
from tvm_tinytrain.data.samples import load_samples
from tvm_tinytrain.errors import TinyTrainError, WeightFileError
from tvm_tinytrain.paths import weights_dir
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.reference import run_int8

CONVS = {"mcunet-5fps": 42, "mbv2-w0.35": 51, "proxyless-w0.3": 60}


@pytest.fixture(scope="module")
def imagenet():
    return [(to_int8_input(center_crop_resize(img))[None], label) for img, label in load_samples("imagenet")]


@pytest.mark.parametrize("name", BACKBONES)
def test_structure(name):
    graph = load_backbone(name)
    weights = graph.weight_layers()
    assert len(weights) == CONVS[name] + 1
    assert [w.conv_index for w in weights] == list(range(CONVS[name] + 1))
    assert weights[-1].name == "classifier" and weights[-1].op == "linear"
    spec = json.loads((weights_dir() / f"{name}.json").read_text())
    residuals = sum(block["residual"] is not None for block in spec["blocks"])
    assert residuals > 0 and sum(layer.op == "add" for layer in graph.layers) == residuals
    assert graph.num_classes == 1000 and graph.input_shape == (3, 128, 128)
    for layer in weights:
        assert layer.params["weight"].dtype == np.int8 and layer.params["bias"].dtype == np.int32


@pytest.mark.parametrize("name", BACKBONES)
def test_tvm_int8_equals_reference_and_classifies(name, imagenet):
    graph = load_backbone(name)
    all_layers = _tvm.build(to_relax(graph, outputs="all"))
    top5 = 0
    for i, (x, label) in enumerate(imagenet):
        outs = all_layers(x)
        ref = run_int8(graph, x, return_all=True)
        for out, layer in zip(outs, graph.layers):
            assert out.dtype == np.int8
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name],
                                          err_msg=f"{name} image {i} layer {layer.name}")
        ranking = np.argsort(-outs[-1][0].astype(np.int32), kind="stable")
        top5 += label in ranking[:5]
    # The data's authors measured 19, 19, 20 with their own numpy simulation.
    assert top5 >= 19


def test_new_head():
    graph = load_backbone("mbv2-w0.35", num_classes=10, seed=3)
    head = graph.layer("classifier")
    assert head.params["weight"].shape == (10, 112) and head.out_shape == (10,)
    assert not np.any(head.params["bias"])
    again = load_backbone("mbv2-w0.35", num_classes=10, seed=3)
    np.testing.assert_array_equal(again.layer("classifier").params["weight"], head.params["weight"])
    with pytest.raises(TinyTrainError, match="num_classes"):
        load_backbone("mbv2-w0.35", num_classes=1)


def test_unknown_name_lists_known():
    with pytest.raises(TinyTrainError) as err:
        load_backbone("resnet50")
    for name in BACKBONES:
        assert name in str(err.value)


def _copy_backbone(tmp_path, name="mbv2-w0.35"):
    for suffix in (".json", ".npz"):
        shutil.copy(weights_dir() / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    return tmp_path / f"{name}.json"


def test_missing_npz(tmp_path):
    path = _copy_backbone(tmp_path)
    path.with_suffix(".npz").unlink()
    with pytest.raises(WeightFileError, match="missing"):
        load_backbone(str(path))


def test_corrupt_npz(tmp_path):
    path = _copy_backbone(tmp_path)
    path.with_suffix(".npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(WeightFileError, match="npz"):
        load_backbone(str(path))


def test_corrupt_json(tmp_path):
    path = _copy_backbone(tmp_path)
    path.write_text(path.read_text()[:1000])
    with pytest.raises(WeightFileError, match="JSON"):
        load_backbone(str(path))


def test_json_array_shape_disagrees_with_npz(tmp_path):
    path = _copy_backbone(tmp_path)
    spec = json.loads(path.read_text())
    spec["first_conv"]["params"]["weight"]["shape"] = [16, 3, 5, 5]
    path.write_text(json.dumps(spec))
    with pytest.raises(WeightFileError, match="first_conv.params.weight"):
        load_backbone(str(path))


def test_json_missing_field(tmp_path):
    path = _copy_backbone(tmp_path)
    spec = json.loads(path.read_text())
    del spec["blocks"][3]["depthwise"]["params"]["y_scale"]
    path.write_text(json.dumps(spec))
    with pytest.raises(WeightFileError, match="blocks.3.depthwise.*y_scale"):
        load_backbone(str(path))


def test_data_folder_override(tmp_path, monkeypatch):
    target = tmp_path / "weights" / "tiny-training-int8"
    target.mkdir(parents=True)
    _copy_backbone(target)
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    assert load_backbone("mbv2-w0.35").name == "mbv2-w0.35"
    with pytest.raises(TinyTrainError, match="mcunet-5fps.json not found in TINYTRAIN_DATA .*tvm-tinytrain fetch backbones"):
        load_backbone("mcunet-5fps")
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(TinyTrainError, match="TINYTRAIN_DATA"):
        load_backbone("mbv2-w0.35")


@pytest.mark.parametrize("name", BACKBONES)
def test_bias_saturation_changes_no_output(name, imagenet):
    """Saturated degenerate biases give the same activations as the raw ones (the reference is exact in int64)."""
    graph = load_backbone(name)
    raw = load_backbone(name)
    arrays = np.load(weights_dir() / f"{name}.npz")
    for layer in raw.weight_layers():
        layer.params["bias"] = arrays[f"{layer.name}.params.bias"]
    for x, _ in imagenet[:8]:
        ours, exact = run_int8(graph, x, return_all=True), run_int8(raw, x, return_all=True)
        for layer in graph.layers:
            np.testing.assert_array_equal(ours[layer.name], exact[layer.name], err_msg=layer.name)


# --- validation of a weight file as it is loaded ---------------------------------------------

def _edit(path, change):
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def _edit_npz(path, key, value):
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays[key] = value
    np.savez(path, **arrays)


@pytest.mark.parametrize("field", ["bias", "w_scales"])
@pytest.mark.parametrize("length", [47, 49])
def test_per_channel_array_length_must_be_out_channels(field, length, tmp_path):
    """One short array was accepted silently, two crashed deep in TVM; now the file, layer and field are named."""
    path = _copy_backbone(tmp_path)
    key = f"blocks.2.depthwise.params.{field}"
    dtype = np.int32 if field == "bias" else np.float32
    _edit_npz(path.with_suffix(".npz"), key, np.ones(length, dtype))
    _edit(path, lambda s: s["blocks"][2]["depthwise"]["params"][field].update(shape=[length]))
    with pytest.raises(WeightFileError, match=rf"mbv2-w0\.35\.json: {key} is declared \w+\[{length}\], "
                                              rf"expected \w+\[48\] \(out_channel 48\)"):
        load_backbone(str(path))


@pytest.mark.parametrize("field, value, match", [
    ("x_zero", 128, "expected an integer in -128..127"), ("y_zero", -129, "expected an integer in -128..127"),
    ("y_scale", 0, "positive finite"), ("y_scale", -1.0, "positive finite"),
    ("y_scale", float("nan"), "positive finite"), ("y_scale", float("inf"), "positive finite"),
    ("y_scale", "0.5", "positive finite"), ("x_zero", None, "null"),
])
def test_quantization_fields_are_checked(field, value, match, tmp_path):
    path = _copy_backbone(tmp_path)
    _edit(path, lambda s: s["blocks"][4]["pointwise1"]["params"].__setitem__(field, value))
    with pytest.raises(WeightFileError, match=rf"blocks\.4\.pointwise1\.params\.{field} is .*{match}"):
        load_backbone(str(path))


@pytest.mark.parametrize("value", [0.0, -0.5, np.nan, np.inf])
def test_w_scales_values_are_checked(value, tmp_path):
    path = _copy_backbone(tmp_path)
    key = "classifier.params.w_scales"
    with np.load(path.with_suffix(".npz")) as npz:
        scales = npz[key].copy()
    scales[7] = value
    _edit_npz(path.with_suffix(".npz"), key, scales)
    with pytest.raises(WeightFileError, match=rf"{key} has 1 zero, negative or non-finite values \(channel 7"):
        load_backbone(str(path))


@pytest.mark.parametrize("where, field", [("residual", "x_scale"), ("residual", "params"), ("depthwise", "in_channel"),
                                          ("depthwise", "kernel_size"), ("depthwise", "groups")])
def test_missing_fields_never_raise_key_error(where, field, tmp_path):
    path = _copy_backbone(tmp_path)
    def drop(spec):
        layer = spec["blocks"][2][where]
        del (layer["params"] if field == "x_scale" else layer)[field]
    _edit(path, drop)
    with pytest.raises(WeightFileError, match=rf"blocks\.2\.{where}\.(params\.)?{field} is missing"):
        load_backbone(str(path))


@pytest.mark.parametrize("field, value", [("stride", 0), ("stride", 9), ("stride", 1.5), ("groups", 0),
                                          ("groups", 7), ("groups", 96), ("kernel_size", [2, 2])])
def test_stride_groups_kernel_ranges(field, value, tmp_path):
    path = _copy_backbone(tmp_path)
    _edit(path, lambda s: s["blocks"][2]["depthwise"].__setitem__(field, value))
    with pytest.raises(WeightFileError, match=rf"blocks\.2\.depthwise\.{field} is .*expected"):
        load_backbone(str(path))


def test_weight_inconsistent_with_previous_layer(tmp_path):
    path = _copy_backbone(tmp_path)
    key = "blocks.2.pointwise1.params.weight"
    _edit_npz(path.with_suffix(".npz"), key, np.zeros((48, 9, 1, 1), np.int8))
    _edit(path, lambda s: s["blocks"][2]["pointwise1"]["params"]["weight"].update(shape=[48, 9, 1, 1]))
    with pytest.raises(WeightFileError, match=rf"{key} is declared int8\[48, 9, 1, 1\], expected int8\[48, 8, 1, 1\]"):
        load_backbone(str(path))


def test_npz_array_checked_from_its_header(tmp_path):
    """A wrong dtype or shape is refused from the .npy header, before its data is read."""
    path = _copy_backbone(tmp_path)
    _edit_npz(path.with_suffix(".npz"), "first_conv.params.bias", np.zeros(16, np.int64))
    with pytest.raises(WeightFileError, match=r"mbv2-w0\.35\.npz: array 'first_conv\.params\.bias' .* is int64\[16\], "
                                              r"expected int32\[16\]"):
        load_backbone(str(path))


def _remove_residual_block(spec, i=5):
    """Block i is a residual 16->16 block; the next block then reads what block i-1 wrote."""
    del spec["blocks"][i]
    q = spec["blocks"][i - 1]["residual"]["params"]
    spec["blocks"][i]["pointwise1"]["params"].update(x_scale=q["y_scale"], x_zero=q["y_zero"])


@pytest.mark.parametrize("name", BACKBONES)
def test_paper_structure_is_recorded(name):
    from tvm_tinytrain.backbones import PAPER_STRUCTURE, structure_digest
    graph = load_backbone(name)
    assert PAPER_STRUCTURE[name] == (CONVS[name], structure_digest(graph))


def test_named_backbone_with_a_block_removed_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "weights" / "tiny-training-int8"
    target.mkdir(parents=True)
    path = _copy_backbone(target)
    _edit(path, _remove_residual_block)
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path))
    with pytest.raises(WeightFileError, match=r"is not the paper's mbv2-w0\.35 \(48 conv layers before the classifier, "
                                              r"the paper's has 51\).*load it by path"):
        load_backbone("mbv2-w0.35")
    graph = load_backbone(str(path))  # by path: the user's own model, consistent, not named as the paper's
    assert graph.name == "mbv2-w0.35-custom" and len(graph.weight_layers()) == 49


def test_named_backbone_with_same_count_but_other_layers_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "weights" / "tiny-training-int8"
    target.mkdir(parents=True)
    path = _copy_backbone(target)
    _edit_npz(path.with_suffix(".npz"), "classifier.params.weight", np.zeros((999, 112, 1, 1), np.int8))
    _edit_npz(path.with_suffix(".npz"), "classifier.params.bias", np.zeros(999, np.int32))
    _edit_npz(path.with_suffix(".npz"), "classifier.params.w_scales", np.ones(999, np.float32))
    def change(spec):
        spec["classifier"]["out_channel"] = 999
        for field, shape in (("weight", [999, 112, 1, 1]), ("bias", [999]), ("w_scales", [999])):
            spec["classifier"]["params"][field]["shape"] = shape
    _edit(path, change)
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path))
    with pytest.raises(WeightFileError, match=r"not the paper's mbv2-w0\.35 \(a layer's kernel, stride, groups, "
                                              r"channels or wiring differs"):
        load_backbone("mbv2-w0.35")


def test_copy_of_paper_file_by_path_keeps_its_name(tmp_path):
    assert load_backbone(str(_copy_backbone(tmp_path))).name == "mbv2-w0.35"
