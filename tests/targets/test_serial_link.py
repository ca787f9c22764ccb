"""The serial transport: pyserial against QEMU's CMSDK UART on a TCP socket (socket://).

The escaping of answers (a data byte 0xDB, the in-band exit record) on pyserial's loop://; a
tiny_resnet session over the UART gives the host session's losses, parameters and logits; a
real-board configuration (BoardProgram: no semihosting, flash command from the board file)
driven against QEMU standing in for the board, including a fault reported in band.
"""
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import serial

from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.session import LinkTimeout
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.targets.board import BoardProgram
from tvm_tinytrain.targets.qemu import QemuProgram, load_board, qemu_command, toolchain_missing
from tvm_tinytrain.targets.serial_link import DeviceExit, SerialLink

from projects import write_toy

needs_qemu = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def test_escaped_answers_and_exit_record():
    link = SerialLink(serial.serial_for_url("loop://", timeout=0.1))
    link.port.write(bytes([1, 0xDB, 0xDD, 2, 0xDB, 0xDE, 3, 0, 0, 0, 0xDB, 0xDD, 0, 1, 0]))
    assert link.read(3, time.monotonic() + 1) == bytes([1, 0xDB, 2])
    with pytest.raises(DeviceExit) as info:
        link.read(4, time.monotonic() + 1)
    assert info.value.status == 3 and info.value.cfsr == 0x000100DB
    with pytest.raises(LinkTimeout):
        link.read(1, time.monotonic() + 0.2)
    link.port.write(bytes([0xDB, 0x00]))
    with pytest.raises(TinyTrainError, match="corrupt answer stream"):
        link.read(1, time.monotonic() + 1)


def test_open_names_the_port():
    with pytest.raises(TinyTrainError, match="cannot open /dev/no-such-tty.*port name"):
        SerialLink.open("/dev/no-such-tty", deadline=time.monotonic())


@needs_qemu
def test_uart_session_matches_host(tiny_resnet, images):
    (x0, y0), (x1, y1), (x2, y2), (x3, _) = images

    def drive(s):
        losses = [s.train(x0, y0)]
        s.set_learning_rates(0.3, 0.05)
        middle = s.params()
        losses.append(s.train(x1, y1))
        return losses, middle, s.predict(x3)

    with HostProgram(tiny_resnet).session() as h:
        h_losses, h_middle, h_logits = drive(h)
    prog = QemuProgram(tiny_resnet, "cortex-m7", transport="uart")
    assert prog.elf.name == "firmware_cortex-m7_uart.elf"
    with prog.session(timeout=60) as s:
        losses, middle, logits = drive(s)
        start = time.perf_counter()
        s.predict(x2)  # 3072 bytes to the guest, 10 back
        upload = time.perf_counter() - start
        start = time.perf_counter()
        s.params()  # 16 bytes to the guest, the trained parameters back
        download = time.perf_counter() - start
    assert losses == h_losses
    np.testing.assert_array_equal(logits, h_logits)
    for name, value in h.final_params.items():
        np.testing.assert_array_equal(middle[name], h_middle[name], err_msg=name)
        np.testing.assert_array_equal(s.final_params[name], value, err_msg=name)
    assert s.error == 0 and s.stack_bytes > 0 and len(s.counts) == 7
    param_bytes = prog.memory["updated_param_bytes"]
    print(f"\nUART on QEMU: 3072-byte request {upload * 1e3:.0f} ms ({3072 / upload / 1e3:.1f} KB/s to the "
          f"guest); {param_bytes}-byte PARAMS answer {download * 1e3:.0f} ms ({param_bytes / download / 1e3:.1f} "
          f"KB/s from the guest)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def qemu_board(tmp_path):
    """A real-board configuration of the toy (no semihosting: the firmware reports its end in band
    only) and a QEMU standing in for the board, listening on a TCP port."""
    board = load_board("cortex-m7")
    port = _free_port()
    board.update(name="fake-board", semihosting=False, serial={"port": f"socket://127.0.0.1:{port}"},
                 flash_command=f"{sys.executable} -c \"import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])\" "
                               f"{{elf}} {tmp_path / 'flashed.elf'}")
    prog = BoardProgram(write_toy(tmp_path), board)
    cmd = qemu_command(prog.board, prog.elf, serial=f"tcp:127.0.0.1:{port},server=on,wait=on")
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    yield prog
    qemu.kill()
    qemu.wait()


@needs_qemu
def test_board_program_over_serial(qemu_board, tmp_path):
    qemu_board.flash()
    assert (tmp_path / "flashed.elf").read_bytes() == qemu_board.elf.read_bytes()
    x = np.arange(48, dtype=np.int8)
    answers, params, error, stack = qemu_board.run([(0, 2, x), (2, 0, (1.5, 2.5)), (1, 0, x)], timeout=10)
    assert answers == [0.5, None, answers[2]] and list(answers[2]) == [1, 0]
    np.testing.assert_array_equal(params["fc.bias"], [0, 4])
    assert error == 0 and 0 < stack < 4096 and len(qemu_board.last_counts) == 3


@needs_qemu
@pytest.mark.parametrize("label,expected", [
    (7, r"status 3: the CPU faulted .*CFSR=0x00010000"),  # UNDEFINSTR
    (11, r"status 5: stack overflow.*CFSR=0x00000092"),  # MemManage on stacking into the MPU guard
])
def test_board_fault_is_reported_in_band(qemu_board, label, expected):
    x = np.arange(48, dtype=np.int8)
    with pytest.raises(TinyTrainError, match=r"ended during request 2 \(train\) with " + expected):
        with qemu_board.session(timeout=10) as s:
            s.train(x, 2)
            s.train(x, label)


@needs_qemu
def test_board_commands_fail_clearly(qemu_board):
    with pytest.raises(TinyTrainError, match="no-such-flasher not found"):
        qemu_board.flash("no-such-flasher {elf}")
    with pytest.raises(TinyTrainError, match=r"failed with status 3; is the board connected"):
        qemu_board.flash(f"{sys.executable} -c \"import sys; sys.exit(3)\" {{hex}}")
    assert qemu_board.elf.with_suffix(".hex").read_text().startswith(":")  # {hex} made with objcopy
    board = dict(qemu_board.board, serial={})
    with pytest.raises(TinyTrainError, match="no serial port"):
        BoardProgram(qemu_board.dir, board)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_real_board_firmware_builds(tiny_resnet):
    board = load_board("stm32f746-disco")
    assert "qemu_machine" not in board and board["semihosting"] is False
    assert "{elf}" in board["flash_command"] and board["serial"]["port"].startswith("/dev/")
    with pytest.raises(TinyTrainError, match="has no qemu_machine"):
        QemuProgram(tiny_resnet, board)
    prog = BoardProgram(tiny_resnet, board)  # the STM32F7 USART driver, no semihosting, flash at 0x08000000
    assert prog.elf.name == "firmware_stm32f746-disco_uart.elf" and prog.port == "/dev/ttyACM0"
    assert 0 < prog.flash_bytes < 1024 * 1024 and prog.ram_bytes < 320 * 1024
    symbols = subprocess.run(["arm-none-eabi-nm", str(prog.elf)], capture_output=True, text=True).stdout
    vectors = next(line for line in symbols.splitlines() if line.endswith(" tt_vectors"))
    assert vectors.startswith("08000000")
