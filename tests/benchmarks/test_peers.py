"""benchmarks.peers: the Relax-importable network computes the fp32 copy and carries the sparse
scheme in its parameters; TVM relax.training really trains (slow: import + compile)."""
import json

import pytest
import torch

from benchmarks.peers import PEERS, _spawn, markdown, relax_net
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.float_model import FloatNet, trained_values
from tvm_tinytrain.schemes import resolve_scheme


def test_relax_net_is_the_float_copy_with_the_scheme_trainable():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    scheme = resolve_scheme("paper-100kb", graph)
    x = torch.randn(1, 3, 128, 128)
    float_net = FloatNet(graph)
    sparse, full = relax_net(graph, scheme), relax_net(graph)
    with torch.no_grad():
        ref = float_net(x)
        assert torch.allclose(sparse(x), ref, atol=1e-5) and torch.allclose(full(x), ref, atol=1e-5)
    assert sum(p.numel() for p in sparse.parameters()) == trained_values(float_net, scheme)
    assert sum(p.numel() for p in full.parameters()) == sum(p.numel() for p in float_net.parameters())


def test_markdown_reports_a_failed_peer_with_its_reason():
    rows = [{"model": "m", "scheme": "s", "peer": PEERS["relax-full"], "measured": False,
             "reason": "InternalError: Check failed: x"}]
    assert "| m | s | tvm relax.training fp32, full update | not measured | | | | InternalError: Check failed: x |" \
        in markdown(rows)


@pytest.mark.slow
def test_relax_training_sparse_peer_measures():
    result = _spawn("relax-sparse", "mcunet-5fps", "paper-100kb")
    assert result["measured"], result.get("reason")
    assert result["ms_per_step"] > 0 and result["peak_rss_bytes"] > 100 * 2**20
    assert result["trained_values"] == 58882 and result["scheme_resolved"] == "paper-99kb"
    torch_result = _spawn("torch-sparse", "mcunet-5fps", "paper-100kb")
    assert result["loss"] == pytest.approx(torch_result["loss"], rel=1e-5)  # the same network and image
    json.dumps(result)
