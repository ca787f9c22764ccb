"""The Cortex-M targets under QEMU (tvm_tinytrain.targets.qemu) against the host build.

MCUNet-5fps with the paper's sparse schemes: two training steps and a prediction on CIFAR-10
images in firmware on emulated Cortex-M7 / M4 / M55 give the host runner's losses, trained
parameters and logits bit for bit. Budgets are enforced at link time; a fault, a hang and a
timeout raise TinyTrainError and leave no QEMU process behind (a tiny hand-written project).
Per-request instruction counts (SysTick under -icount shift=0) are exact on a known loop and
deterministic from run to run.
"""
import json
import re
import shutil

import numpy as np
import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import TARGET_FLAGS, generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.scheme import is_state
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import QemuProgram, board_names, load_board, parse_size, toolchain_missing

from projects import qemu_processes, write_toy

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")

# Schemes that fit each board's SRAM budget.
BOARD_SCHEMES = {"cortex-m7": "paper-100kb", "cortex-m4": "paper-50kb", "cortex-m55": "paper-100kb",
                 "cortex-m7-sp": "paper-100kb"}  # the STM32F746's single-precision FPU: float->int64 in software


@pytest.fixture(scope="module")
def images():
    pixels, labels = load_cifar10("test", per_class=1)
    return [(to_int8_input(resize_to(p, 128)), int(label)) for p, label in zip(pixels[:3], labels)]


_projects = {}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """scheme -> (folder of the generated MCUNet-5fps project, its host run of the requests)."""

    def make(scheme, requests, fp32_classifier=None, momentum=None):
        key = scheme, fp32_classifier, momentum
        if key not in _projects:
            graph = load_backbone("mcunet-5fps", num_classes=10)
            folder = tmp_path_factory.mktemp(scheme)
            program = build_training(graph, resolve_scheme(scheme, graph, fp32_classifier=fp32_classifier,
                                                           momentum=momentum))
            write_project(generate(program), folder)
            _projects[key] = folder, HostProgram(folder).run(requests)
        return _projects[key]

    return make


def requests_of(images):
    return [(TRAIN, label, x) for x, label in images[:2]] + [(PREDICT, 0, images[2][0])]


def test_board_files_use_the_project_flags():
    assert set(board_names()) >= {"cortex-m7", "cortex-m4", "cortex-m55"}
    for name in ("cortex-m7", "cortex-m4", "cortex-m55"):
        board = load_board(name)
        assert " ".join(board["cflags"]) == TARGET_FLAGS[name][1], name
    assert parse_size(load_board("cortex-m7")["ram"]["length"]) == 320 * 1024
    assert parse_size(load_board("cortex-m4")["ram"]["length"]) == 256 * 1024
    with pytest.raises(TinyTrainError, match="unknown board"):
        load_board("cortex-m99")


@pytest.mark.parametrize("board,fp32_head,momentum", [
    ("cortex-m7", None, None), ("cortex-m4", None, None), ("cortex-m55", None, None), ("cortex-m7", True, None),
    ("cortex-m7-sp", None, None), ("cortex-m7", None, 0.9)])  # momentum: the velocities read back too
def test_qemu_matches_host(board, fp32_head, momentum, images, project):
    requests = requests_of(images)
    scheme = "paper-49kb" if momentum else BOARD_SCHEMES[board]  # (paper-100kb's velocities exceed the SRAM)
    folder, (h_answers, h_params, h_error) = project(scheme, requests, fp32_head, momentum)
    prog = QemuProgram(folder, board)
    answers, params, error, stack = prog.run(requests, timeout=120)
    counts = prog.last_counts
    assert error == h_error == 0
    assert len(counts) == len(requests) and all(c > 0 for c in counts)
    assert counts[2] < min(counts[:2]), counts  # a prediction costs fewer instructions than a step
    for step in range(2):
        assert abs(answers[step] - h_answers[step]) <= 1e-5 * abs(h_answers[step]), (step, answers, h_answers)
        assert np.isfinite(answers[step])
    assert answers[2].dtype == (np.float32 if fp32_head else np.int8)
    np.testing.assert_array_equal(answers[2], h_answers[2])
    assert params.keys() == h_params.keys() and params
    for name, value in h_params.items():
        assert params[name].dtype == value.dtype
        np.testing.assert_array_equal(params[name], value, err_msg=name)  # float too: same operations
    spec = load_board(board)
    assert 0 < prog.flash_bytes <= parse_size(spec["flash"]["length"])
    assert prog.memory["arena_bytes"] < prog.ram_bytes
    assert 0 < stack <= parse_size(spec["ram"]["length"]) - prog.ram_bytes
    print(f"\n{board}{' fp32 head' if fp32_head else ''}: flash {prog.flash_bytes} B, static RAM {prog.ram_bytes} B, "
          f"stack {stack} B, instructions per step {counts[:2]}, per prediction {counts[2]}")
    assert any(is_state(name) for name in params) == bool(momentum)
    if board == "cortex-m7" and not fp32_head and not momentum:  # the same requests again: the same counts
        again = prog.run(requests, timeout=120)
        assert prog.last_counts == counts
        assert again[0][:2] == answers[:2]


def _over_budget(tmp_path, name, **lengths):
    board = load_board("cortex-m7")
    board["name"] = name
    for region, length in lengths.items():
        board[region]["length"] = length
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(board))
    return path


def test_over_budget_ram_names_missing_bytes(tmp_path, images, project):
    folder, _ = project(BOARD_SCHEMES["cortex-m7"], requests_of(images))
    board = _over_budget(tmp_path, "tiny-ram", ram="64K")
    with pytest.raises(TinyTrainError) as info:
        QemuProgram(folder, board)
    message = str(info.value)
    m = re.search(r"SRAM is (\d+) bytes short", message)
    assert m, message
    memory = json.loads((folder / "memory.json").read_text())
    # at least the arena and the trained parameters do not fit in 64 KB
    assert int(m.group(1)) >= memory["arena_bytes"] + memory["updated_param_bytes"] - 64 * 1024
    assert "largest part: the activation arena" in message and "tiny-ram" in message


def test_over_budget_flash_names_missing_bytes(tmp_path, images, project):
    folder, _ = project(BOARD_SCHEMES["cortex-m7"], requests_of(images))
    with pytest.raises(TinyTrainError, match=r"flash is \d+ bytes short .*largest part: the frozen weights"):
        QemuProgram(folder, _over_budget(tmp_path, "tiny-flash", flash="256K"))


@pytest.fixture(params=["cortex-m7"])
def toy(tmp_path, request):
    return QemuProgram(write_toy(tmp_path), request.param)


def test_toy_protocol(toy):
    x = np.arange(48, dtype=np.int8)
    answers, params, error, stack = toy.run([(TRAIN, 2, x), (TRAIN, 1, -x), (PREDICT, 0, x)], timeout=30)
    assert answers[:2] == [0.5, 0.25]
    np.testing.assert_array_equal(answers[2], np.array([1, 0], np.int8))
    np.testing.assert_array_equal(params["fc.bias"], np.array([0, 0], np.int32))
    assert error == 0 and 0 < stack < 4096
    assert len(toy.last_counts) == 3 and all(0 < c < 1000 for c in toy.last_counts), toy.last_counts


@pytest.mark.parametrize("toy", ["cortex-m7", "cortex-m4", "cortex-m55"], indirect=True)
def test_instruction_counts_are_exact_and_deterministic(toy):
    # label 5 runs a loop of 100000 x (subs, bne) = 200000 instructions on top of a plain step
    x = np.arange(48, dtype=np.int8)
    requests = [(TRAIN, 2, x), (TRAIN, 5, x), (PREDICT, 0, x)]
    toy.run(requests, timeout=30)
    first = list(toy.last_counts)
    toy.run(requests, timeout=30)
    assert toy.last_counts == first
    # exact up to one SysTick tick (40 instructions at 25 MHz, 31.25 at 32 MHz) at each end
    assert abs(first[1] - first[0] - 200_000) <= 80, first


def test_fault_raises_with_status(toy):
    # the report names the faulting PC (read from the exception frame before the message, a local, is built)
    with pytest.raises(TinyTrainError, match=r"(?s)status 3: the CPU faulted.*tt firmware: fault .* PC=0x[0-9A-F]{8}"):
        toy.run([(TRAIN, 7, np.zeros(48, np.int8))], timeout=30)
    assert not qemu_processes(toy.elf)


def test_hang_times_out_and_kills_qemu(toy):
    with pytest.raises(TinyTrainError, match=r"did not answer request 1 \(train\) within 2 s"):
        toy.run([(TRAIN, 9, np.zeros(48, np.int8))], timeout=2)
    assert not qemu_processes(toy.elf)
    assert not _fifos(toy)


@pytest.mark.parametrize("toy", ["cortex-m7", "cortex-m4", "cortex-m55"], indirect=True)
def test_stack_overflow_hits_the_guard(toy):
    # M7/M4: the MPU no-access region below the stack (MemManage on stacking, MSTKERR);
    # M55: MSPLIM (UsageFault STKOF). Without a guard the recursion would run through .bss.
    x = np.arange(48, dtype=np.int8)
    cfsr = "0x00100000" if toy.board["name"] == "cortex-m55" else "0x000000(10|82|92)"
    with pytest.raises(TinyTrainError, match=rf"(?s)with status 5: stack overflow.*tt firmware: stack overflow "
                                             rf"\(the stack ran into its guard\): CFSR={cfsr}"):
        with toy.session(timeout=30) as s:
            assert s.train(x, 2) == 0.5
            s.train(x, 11)
    assert not qemu_processes(toy.elf)


def _fifos(toy) -> list[str]:
    return [name for name in ("requests.bin", "answers.bin") if (toy.dir / name).exists()]


def test_fault_mid_session_raises_and_cleans_up(toy):
    x = np.arange(48, dtype=np.int8)
    with pytest.raises(TinyTrainError, match=r"ended during request 3 \(train\) with status 3: the CPU faulted"):
        with toy.session(timeout=30) as s:
            assert s.train(x, 2) == 0.5
            s.set_learning_rates(1.0, 2.0)
            s.train(x, 7)
    assert not qemu_processes(toy.elf) and not _fifos(toy)


def test_qemu_crash_mid_session_raises_and_cleans_up(toy):
    x = np.arange(48, dtype=np.int8)
    with pytest.raises(TinyTrainError, match=r"ended during request 2 \(predict\) with status -9: QEMU"):
        with toy.session(timeout=30) as s:
            s.train(x, 2)
            s.proc.kill()
            s.predict(x)
    assert not qemu_processes(toy.elf) and not _fifos(toy)


def test_set_lr_and_params_requests(toy):
    x = np.arange(48, dtype=np.int8)
    with toy.session(timeout=30) as s:
        s.train(x, 2)  # bias[0] += x[0] = 0
        s.set_learning_rates(1.5, 2.5)  # the toy stores int(lr_weight + lr_bias) in bias[1]
        set_lr = s.instructions
        np.testing.assert_array_equal(s.params()["fc.bias"], [0, 4])
        s.train(-x - 3, 3)  # bias[1] += -3
    np.testing.assert_array_equal(s.final_params["fc.bias"], [0, 1])
    assert len(s.counts) == 4 and 0 <= set_lr < 200, s.counts


def test_missing_toolchain_message(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(TinyTrainError, match="qemu-system-arm not found"):
        QemuProgram(tmp_path, "cortex-m7")
