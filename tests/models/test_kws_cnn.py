"""KWSNet: size, shapes, and the whole import path (torch.export -> Relax -> BN fold -> PTQ -> int8)."""
import numpy as np
import torch
from torch import nn

from tvm_tinytrain.data.datasets import SPEECH_Q, load_dataset
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.reference import run_float, run_int8
from tvm_tinytrain.models.kws_cnn import INPUT_SHAPE, build, kws_cnn


def test_size_and_shapes():
    model = kws_cnn()
    assert 20_000 <= sum(p.numel() for p in model.parameters()) <= 40_000
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size[0] == c.kernel_size[1] and c.stride[0] == c.stride[1] for c in convs)
    model, x = build()
    assert x.shape == (1, *INPUT_SHAPE) and not model.training
    with torch.no_grad():
        assert model(x).shape == (1, 12)
        assert model.first_conv(x).shape == (1, 32, 25, 20)
    assert kws_cnn(4)(torch.zeros(2, *INPUT_SHAPE)).shape == (2, 4)


def test_imports_and_quantizes_on_real_features():
    data = load_dataset("speech-commands", INPUT_SHAPE, train_per_class=2, test_per_class=1, progress=False)
    features = data.to_float(data.train_x)
    model, _ = build(num_classes=12, seed=3)
    graph = to_graph(from_torch(model, torch.from_numpy(features[:1]), name="kws"))
    assert [l.op for l in graph.layers].count("conv2d") == 11 and graph.layers[-1].op == "linear"
    with torch.no_grad():  # BN folded into the convs: the float graph is the torch model
        assert np.allclose(run_float(graph, features[0]), model(torch.from_numpy(features[:1])).numpy(), atol=1e-3)
    qgraph = quantize(graph, features, progress=False, input_q=data.input_q)
    assert qgraph.input_q == SPEECH_Q
    agree = 0
    for x_q in data.test_x:
        out_q = qgraph.layer(qgraph.output).out_q
        logits = out_q.scale * (run_int8(qgraph, x_q).astype(np.float32) - out_q.zero)
        ref = run_float(graph, data.to_float(x_q)).reshape(-1)
        assert np.corrcoef(logits.reshape(-1), ref)[0, 1] > 0.95
        agree += int(np.argmax(logits) == np.argmax(ref))
    assert agree >= 10  # of 12 clips, random weights: near-ties may flip
    main = to_relax(qgraph)["main"]
    assert main.params[0].ty.dtype == "int8"
