"""The parts benchmarks/user_models.py added for the model zoo (issue 12), each cheap: the sensor-like
band-envelope signal it builds from Speech Commands, the PyTorch-oracle comparison (which must report
a disagreement when there is one), how two graph files differ, and the table's SRAM verdict."""
import numpy as np
import pytest

import benchmarks.user_models as um
from tvm_tinytrain.data.datasets import load_dataset
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import mlp_head_cnn
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.schemes import resolve_scheme


def test_band_envelopes_are_a_standardised_3_x_128_signal_of_every_clip(tmp_path):
    um.band_envelopes(tmp_path / "env.npz")
    with np.load(tmp_path / "env.npz") as f:
        x, y, x_test, y_test = f["x"], f["y"], f["x_test"], f["y_test"]
    assert x.shape[1:] == x_test.shape[1:] == (3, 128) and len(x) + len(x_test) == 4890
    assert set(np.unique(y)) == set(np.unique(y_test)) == set(range(12))
    np.testing.assert_allclose(x.mean(axis=(0, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(x.std(axis=(0, 2)), 1, atol=1e-3)
    d = load_dataset(f"npz:{tmp_path / 'env.npz'}:classes=yes,no", (3, 1, 128), train_per_class=2, progress=False)
    assert d.train_x.shape == (4, 3, 1, 128) and d.train_x.dtype == np.int8


@pytest.fixture(scope="module")
def small_graph():
    model, x = mlp_head_cnn.build(num_classes=4)
    xs = np.random.default_rng(0).normal(0, 1, (6, *mlp_head_cnn.INPUT_SHAPE)).astype(np.float32)
    graph = quantize(to_graph(from_torch(model, x, name="mlp")), xs[:4], progress=False)
    return graph, [(quantize_input(graph, v)[0], i % 4) for i, v in enumerate(xs[4:])]


def test_oracle_agreement_reports_agreement_and_a_disagreement(small_graph, monkeypatch):
    graph, samples = small_graph
    scheme = resolve_scheme("last-2", graph, lr_weight=0.01, lr_bias=0.01)
    same = um.oracle_agreement(graph, scheme, samples)
    assert same["agrees"] and same["steps"] == 2 and same["grad_max_rel"] <= 1e-5 and same["int_max_diff"] <= 1
    step = TorchTrainer.step

    def off(self, *args, **kwargs):  # an oracle whose first gradient is 1 % off
        result = step(self, *args, **kwargs)
        name = sorted(result.grads)[0]
        result.grads[name] = result.grads[name] * 1.01
        return result

    monkeypatch.setattr(TorchTrainer, "step", off)
    wrong = um.oracle_agreement(graph, scheme, samples[:1])
    assert not wrong["agrees"] and 5e-3 < wrong["grad_max_rel"] < 2e-2


def test_graph_difference_counts_what_differs(tmp_path):
    a = {"layer0.weight": np.arange(6, dtype=np.int8), "layer0.w_scale": np.ones(3, np.float32)}
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **{**a, "layer0.w_scale": np.float32([1, 1, 1 + 2 ** -20])})
    np.savez(tmp_path / "c.npz", **{**a, "layer0.weight": np.arange(7, dtype=np.int8)})
    assert um.graph_difference(tmp_path / "a.npz", tmp_path / "a.npz") == {
        "same_layout": True, "int_values_apart": 0, "float_values_apart": 0, "float_max_rel": 0.0}
    diff = um.graph_difference(tmp_path / "a.npz", tmp_path / "b.npz")
    assert diff["float_values_apart"] == 1 and diff["int_values_apart"] == 0 and 0 < diff["float_max_rel"] < 1e-6
    assert um.graph_difference(tmp_path / "a.npz", tmp_path / "c.npz") == {"same_layout": False}


def test_zoo_table_says_by_how_much_a_model_is_over_the_sram():
    device = {"ram_bytes": 330 * 1024, "stack_bytes": 1024, "flash_bytes": 2048, "instructions_per_step": 2e6,
              "device_equals_host": True, "steps": 3, "tvm_equals_c": True, "tvm_vs_c_values_apart": 0,
              "tvm_vs_c_values": 10, "oracle": {"agrees": True, "loss_max_rel": 0.0, "grad_max_rel": 3e-7,
                                                "int_max_diff": 0}}
    r = {"what": "big", "input_shape": [3, 8, 8], "device": device, "torch_onnx_losses_equal": True,
         "same_quantization": True, "accuracy": {"torch": {"before": 0.1, "after": 0.5}}}
    row = um.zoo_table([r], ["other"]).splitlines()[2]
    assert "330.0 + 1.0 = 331.0 (over by 11.0)" in row and "within tolerance" in row and "10.0 -> 50.0" in row
    small = {**r, "device": {**device, "ram_bytes": 100 * 1024}}
    assert "(fits, 219 free)" in um.zoo_table([small], [])


def test_zoo_refuses_a_model_of_the_other_set(tmp_path):
    with pytest.raises(SystemExit):
        um.main(["--zoo", "--models", "vgg_small", "--work", str(tmp_path)])
