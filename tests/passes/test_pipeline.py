"""build_training's `reuse`: the budget loop's candidate programs start from the first program's stages before
chunk_depthwise_grad; each must be the program a fresh build gives (the same module, parameters, prediction)."""
import pytest

from tests.block_cnn import EXPAND_TRAINED, quantized_block_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings


@pytest.fixture(scope="module")
def graph():
    return quantized_block_cnn()[0]


def test_a_reused_build_is_the_fresh_build(graph):
    scheme = EXPAND_TRAINED
    first = build_training(graph, scheme)
    layers = first.chunkable
    assert layers and not first.chunked
    reused, fresh = build_training(graph, scheme, chunked=layers, reuse=first), build_training(graph, scheme,
                                                                                             chunked=layers)
    assert reused.chunked == fresh.chunked == layers
    assert any(b.op.endswith("_chunks") for b in op_bindings(reused.mod))
    assert reused.mod.script() == fresh.mod.script()
    assert reused.predict.script() == fresh.predict.script()
    assert reused.params.keys() == fresh.params.keys()
    assert reused.memory.peak_bytes == fresh.memory.peak_bytes
    # the program it started from is unchanged by the build
    assert first.mod.script() == build_training(graph, scheme).mod.script()


def test_reuse_needs_a_whole_program(graph):
    scheme = EXPAND_TRAINED
    partial = build_training(graph, scheme, stop_after="fuse_grad_update")
    with pytest.raises(ValueError, match="reuse"):
        build_training(graph, scheme, reuse=partial)
