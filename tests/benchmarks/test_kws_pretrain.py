"""benchmarks.kws_pretrain: the 12-class fine-tuning graph from saved 8-class weights; the script end to end (slow)."""
import json

import numpy as np
import pytest
import torch

from benchmarks.kws_pretrain import PRETRAIN_CLASSES, WEIGHTS, finetune_graph, load_pretrained, main
from tvm_tinytrain.data.datasets import SPEECH_Q
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.models.kws_cnn import build


def test_finetune_graph_keeps_pretrained_rows(tmp_path):
    with pytest.raises(TinyTrainError, match="kws_pretrain"):
        load_pretrained(tmp_path)
    model, _ = build(num_classes=len(PRETRAIN_CLASSES), seed=5)
    torch.save(model.state_dict(), tmp_path / WEIGHTS)
    graph = finetune_graph(tmp_path)
    assert graph.quantized and graph.num_classes == 12 and graph.input_q == SPEECH_Q
    head = graph.layer("classifier")
    w = head.params["weight"].astype(np.float32) * head.params["w_scale"][:, None]
    old = model.classifier.weight.detach().numpy()
    assert np.abs(w[:8] - old).max() <= head.params["w_scale"][:8].max() / 2 + 1e-6
    norms = np.linalg.norm(w, axis=1)
    assert np.allclose(norms[8:], np.linalg.norm(old, axis=1).mean(), rtol=0.05)


@pytest.mark.slow
def test_script_end_to_end(tmp_path):
    summary = main(["--out", str(tmp_path), "--epochs", "1"])
    assert (tmp_path / WEIGHTS).is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["n_test"] == summary["n_test"] > 900
    assert 0.0 <= summary["int8_test_acc"] <= 1.0 and summary["classes"] == list(PRETRAIN_CLASSES)
