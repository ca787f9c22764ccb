"""The sample in rows on the device: the firmware reads each row from the link as the stem asks for it (no
buffer of the sample's size) and gives the host build's losses, trained values and logits bit for bit on
QEMU's Cortex-M7, for the small stem CNN (tests/stem_cnn.py) and, slow, MobileNetV2-w0.35 paper-100kb on
CIFAR-10 images; slow too, the stem CNN whose block pulls the stem's output rows (tt_conv_dw_pw_chain_s8) in both
its step and its prediction."""
import pytest
from device_equals_host import device_equals_host
from stem_cnn import BLOCKS_FROZEN, STEM_FROZEN, TALL, quantized_stem_cnn

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def test_streamed_stem_cnn_on_cortex_m7_equals_host(tmp_path):
    graph, samples = quantized_stem_cnn()
    project = generate(build_training(graph, STEM_FROZEN))
    assert project.memory["input"]["rows"]
    write_project(project, tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=120)


@pytest.mark.slow  # one more firmware (~40 s); the kernel test checks the chain bit for bit by default
def test_chained_stem_cnn_on_cortex_m7_equals_host(tmp_path):
    graph, samples = quantized_stem_cnn(TALL)
    project = generate(build_training(graph, BLOCKS_FROZEN))
    assert all(why.startswith("rows") for why in project.memory["input"]["stem_output"].values())
    write_project(project, tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=120)


@pytest.mark.slow
def test_streamed_mbv2_paper_100kb_on_cortex_m7_equals_host(tmp_path):
    graph = load_backbone("mbv2-w0.35", num_classes=10)
    project = generate(build_training(graph, resolve_scheme("paper-100kb", graph)))
    assert project.memory["input"]["rows"]
    write_project(project, tmp_path)
    pixels, labels = load_cifar10("test", per_class=1)
    images = [(to_int8_input(resize_to(p, 128)), int(label)) for p, label in zip(pixels[:3], labels)]
    requests = [(TRAIN, label, x) for x, label in images[:2]] + [(PREDICT, 0, images[2][0])]
    device_equals_host(tmp_path, requests, timeout=600)
