"""The paper's int8 backbones: structure, error paths, and TVM == numpy reference on real images."""
import json
import shutil

import numpy as np
import pytest

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
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path))
    assert load_backbone("mbv2-w0.35").name == "mbv2-w0.35"
    with pytest.raises(WeightFileError, match="TINYTRAIN_DATA"):
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
