"""A real board: build the UART firmware, flash it with the board's command, and drive it over
its serial port with the same sessions as the host and QEMU targets.

    prog = BoardProgram(project_dir, "stm32f746-disco")      # port/baudrate from the board file
    prog.flash()                                             # the board file's "flash_command"
    with prog.session(timeout=60) as s:                      # resets the board ("reset_command")
        loss = s.train(x, label)

The board file gives `uart` (driver, base address, clock, baud rate), `serial` (port, baud rate),
`flash_command` and optionally `reset_command`: shell-style commands where {elf}, {bin} and {hex} stand for the
firmware (the .bin / .hex are made with arm-none-eabi-objcopy when a command names them).
The firmware serves one session per reset: after END it sends its exit status and stops.
"""
from __future__ import annotations

import shlex
import subprocess
import time

from tvm_tinytrain.codegen.session import LinkTimeout, Session
from tvm_tinytrain.errors import TinyTrainError

from .qemu import EXIT_MEANING, Firmware
from .serial_link import DeviceExit, SerialLink

OBJCOPY = "arm-none-eabi-objcopy"


class SerialSession(Session):
    """A session with a board that is not our process: its end is the in-band exit record."""

    def __init__(self, link: SerialLink, memory: dict, timeout, name: str):
        super().__init__(link, memory, "board", counted=True, timeout=timeout)
        self.name = name

    def _finish(self):
        status = self.link.wait_exit(None if self.timeout is None else time.monotonic() + self.timeout)
        if status not in (0, 1):
            raise TinyTrainError(f"board: {self.name} ended with status {status}: "
                                 f"{EXIT_MEANING.get(status, 'unknown status')}")

    def _failure(self, what, cause):
        self._cleanup()
        if isinstance(cause, DeviceExit):
            return TinyTrainError(f"board: {self.name} ended during {what} with status {cause.status}: "
                                  f"{EXIT_MEANING.get(cause.status, 'unknown status')} (fault status CFSR=0x"
                                  f"{cause.cfsr:08X}); reset the board before the next session")
        if isinstance(cause, LinkTimeout):
            return TinyTrainError(f"board: {self.name} did not answer {what} within {self.timeout} s: a hang, a "
                                  f"request slower than the timeout, or the board is not running this firmware "
                                  f"(flash it; it serves one session per reset)")
        return TinyTrainError(f"board: the serial port of {self.name} closed during {what} (unplugged?)")

    def _cleanup(self):
        self.link.close()


class BoardProgram(Firmware):
    def __init__(self, project_dir, board, port: str | None = None, baudrate: int | None = None):
        super().__init__(project_dir, board, transport="uart")
        serial = self.board.get("serial", {})
        self.port = port or serial.get("port")
        self.baudrate = int(baudrate or serial.get("baudrate", 115200))
        self.last_counts: list[int] = []
        if not self.port:
            raise TinyTrainError(f"board: no serial port for {self.board['name']}; pass port= (e.g. /dev/ttyACM0) "
                                 f"or set \"serial\": {{\"port\": ...}} in the board file")

    def _command(self, key: str, command: str | None):
        """Run the board file's `key` command (or `command`) with the firmware's paths filled in."""
        command = command or self.board.get(key)
        if not command:
            raise TinyTrainError(f"board: {self.board['name']} has no {key!r} command; add one to the board file "
                                 f"(e.g. \"openocd -f board/stm32f7discovery.cfg -c 'program {{elf}} verify reset "
                                 f"exit'\") or pass it")
        files = {"elf": self.elf}
        for kind, fmt in (("bin", "binary"), ("hex", "ihex")):
            if "{" + kind + "}" in command:
                files[kind] = self.elf.with_suffix(f".{kind}")
                subprocess.run([OBJCOPY, "-O", fmt, str(self.elf), str(files[kind])], check=True)
        argv = shlex.split(command.format(**{k: shlex.quote(str(v)) for k, v in files.items()}))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        except FileNotFoundError:
            raise TinyTrainError(f"board: {argv[0]} not found; install it or change the {key!r} command of "
                                 f"{self.board['name']}") from None
        except subprocess.TimeoutExpired:
            raise TinyTrainError(f"board: `{' '.join(argv)}` did not finish within 300 s") from None
        if result.returncode != 0:
            raise TinyTrainError(f"board: `{' '.join(argv)}` failed with status {result.returncode}; is the board "
                                 f"connected and powered?\n{(result.stdout + result.stderr).strip()[-2000:]}")

    def flash(self, command: str | None = None):
        """Write the firmware to the board (the board file's "flash_command", or `command`)."""
        self._command("flash_command", command)

    def session(self, timeout: float | None = 600.0) -> SerialSession:
        """Reset the board (its "reset_command", if any) and open the serial port."""
        if self.board.get("reset_command"):
            self._command("reset_command", None)
        # A USB serial port may take a moment to come back after the reset.
        link = SerialLink.open(self.port, self.baudrate, deadline=time.monotonic() + 3)
        link.port.reset_input_buffer()  # bytes from before the reset
        return SerialSession(link, self.memory, timeout, f"firmware on {self.board['name']} ({self.port})")

    def run(self, requests, timeout: float = 600.0):
        """As QemuProgram.run: (answers, final params, error, stack bytes); sets last_counts."""
        with self.session(timeout) as s:
            answers = [s.request(*r) for r in requests]
        self.last_counts = s.counts
        return answers, s.final_params, s.error, s.stack_bytes
