"""tiny_resnet: structure, shapes, residual adds and deterministic build()."""
import torch
from torch import nn

from tvm_tinytrain.models.tiny_resnet import build, tiny_resnet


def test_convs():
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.stride[0])
             for m in tiny_resnet().modules() if isinstance(m, nn.Conv2d)]
    assert convs == [
        (3, 16, (3, 3), 1),                       # stem
        (16, 16, (3, 3), 1), (16, 16, (3, 3), 1),  # layer1
        (16, 32, (3, 3), 2), (32, 32, (3, 3), 1),  # layer2
        (16, 32, (1, 1), 2),                      # layer2 downsample
    ]
    model = tiny_resnet()
    assert model.layer1.downsample is None and isinstance(model.maxpool, nn.MaxPool2d)


def test_shapes_and_adds():
    model, x = build()
    assert x.shape == (1, 3, 32, 32) and not model.training
    with torch.no_grad():
        assert model(x).shape == (1, 10)
        assert model.layer2(model.layer1(model.maxpool(model.stem(x)))).shape == (1, 32, 8, 8)
    assert tiny_resnet(num_classes=4)(torch.zeros(3, 3, 32, 32)).shape == (3, 4)
    graph = torch.export.export(model, (x,)).graph
    targets = [str(n.target) for n in graph.nodes if n.op == "call_function"]
    assert sum("add" in t for t in targets) == 2
    # ReLU after the add: the add's only user is a relu
    for n in graph.nodes:
        if n.op == "call_function" and "add" in str(n.target):
            assert [str(u.target) for u in n.users] == ["aten.relu.default"]


def test_build_deterministic():
    (m1, x1), (m2, x2) = build(), build()
    assert torch.equal(x1, x2)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
