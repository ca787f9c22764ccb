"""The residual add writing over its dying first input (ops/forward.py: add_s8 writes=REUSES_INPUT; tt_add_s8 reads
a[i] and b[i] before it writes y[i], one loop, portable and DSP alike): in tiny_resnet's generated C the sum's
pointer is its first input's; slow, the C step equals the TVM-built one (tests/three_way.py) and the firmware on
QEMU's Cortex-M7 the host build bit for bit."""
import re

import pytest
from device_equals_host import device_equals_host
from three_way import c_matches_relax

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory):
    """(graph, samples, folder): tiny_resnet calibrated on CIFAR-10, trained by last-1, its project written."""
    from targets.projects import cifar_images, tiny_resnet_graph

    graph = tiny_resnet_graph()
    folder = tmp_path_factory.mktemp("inplace_add")
    write_project(generate(build_training(graph, resolve_scheme("last-1", graph))), folder)
    return graph, cifar_images(4), folder


def _adds(model_c: str) -> list[bool]:
    """Whether each tt_add_s8 call writes its sum over its first input."""
    calls = re.findall(r"tt_add_s8\((\(\(int8_t \*\)\(tt_arena \+ \d+\)\)), .*, &q, (.*)\)\);", model_c)
    return [a == y for a, y in calls]


@pytest.mark.slow  # the calibrated tiny_resnet (~17 s); tests/passes/test_memory_analysis checks the merge by default
def test_residual_add_writes_over_its_dying_input(tiny_resnet):
    adds = _adds((tiny_resnet[2] / "model.c").read_text())
    assert len(adds) == 4 and sum(adds) == 3  # the step's second add's first input is read by the backward


@pytest.mark.slow  # a sanitized host build and the Relax step (~30 s); MCUNet's C == TVM checks its adds by default
def test_in_place_add_equals_relax(tiny_resnet):
    graph, samples, folder = tiny_resnet
    c_matches_relax(graph, resolve_scheme("last-1", graph), samples[:3], folder)


@pytest.mark.slow  # one firmware (~40 s)
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_in_place_add_on_cortex_m7_equals_host(tiny_resnet):
    _, samples, folder = tiny_resnet
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(folder, requests, timeout=180)
