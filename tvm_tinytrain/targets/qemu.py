"""Cortex-M targets under QEMU: build a generated project into firmware and drive it.

    prog = QemuProgram(project_dir, "cortex-m7")      # or a path to a board .json
    prog.flash_bytes, prog.ram_bytes                  # from arm-none-eabi-size
    with prog.session(timeout=60) as s:               # codegen/session.py
        loss = s.train(x, label); s.instructions      # instructions that step took
    answers, params, error, stack_bytes = prog.run(requests)
    prog.last_counts                                  # instructions each request of run() took

The firmware (`Firmware`, shared with real boards in board.py) is the project's model.c and
kernels/*.c plus `firmware/startup.c`, `firmware/device_main.c` (codegen/protocol.py's
request/answer stream) and a transport: `transport_semihost.c` (semihosting file I/O, the
default) or, with transport="uart", `transport_uart.c` (the board's UART; under QEMU on a TCP
socket driven with pyserial, serial_link.py). It is linked with a script holding the board's
flash and SRAM budgets, so a model over budget fails to build with a TinyTrainError that says
what is missing and what is largest.

A semihosting session runs QEMU with requests.bin and answers.bin in the project folder made
named pipes (FIFOs): the firmware opens them by name through semihosting, its reads block until
the next request arrives, and QEMU stays up between requests, so the trained parameters persist.
A UART session connects to UART0, which QEMU serves on a local TCP port (~9 KB/s to the guest,
~45 KB/s back, measured here). QEMU runs in its own process group; a fault, a hang (no answer
within the timeout) or a QEMU crash kills the group, removes the FIFOs and raises a
TinyTrainError with the exit status.

Instruction counts: QEMU runs with `-icount shift=0` (each instruction advances virtual time
by 1 ns) and the firmware reads SysTick, which runs from the board's CPU clock (`systick_hz`
in the board file: 25 MHz on mps2, so one tick = 40 instructions), around every request.
They are deterministic, exact to one tick, and counts of instructions, not cycles (QEMU
models no pipeline or memory timing). Time blocked waiting for a request is not counted; over a
UART, a PARAMS count includes the firmware waiting for the UART to send the answer.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


from tvm_tinytrain.codegen.host_build import CFLAGS
from tvm_tinytrain.codegen.session import FdLink, ProcessSession, kill_group
from tvm_tinytrain.errors import TinyTrainError

HERE = Path(__file__).resolve().parent
BOARD_DIR = HERE / "boards"
FIRMWARE_DIR = HERE / "firmware"
GCC, SIZE, QEMU = "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections")
EXIT_MEANING = {2: "firmware I/O or protocol error",
                3: "the CPU faulted (HardFault/MemManage/BusFault/UsageFault)",
                4: "the stack reached the end of its region",
                5: "stack overflow: the stack ran into its guard (MPU no-access region on M4/M7, MSPLIM on "
                   "M55) below it; reduce the program's stack use or leave it more RAM (a smaller scheme, or a "
                   "larger min_stack / RAM budget in the board file)"}
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARD_DIR.glob("*.json"))


def load_board(board) -> dict:
    """A board by name (boards/<name>.json), by path to a .json, or as a dict already."""
    if isinstance(board, dict):
        return board
    path = Path(board)
    if not path.suffix == ".json":
        path = BOARD_DIR / f"{board}.json"
        if not path.is_file():
            raise TinyTrainError(f"qemu: unknown board {board!r}; known: {', '.join(board_names())} "
                                 f"(or pass the path of a board .json)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise TinyTrainError(f"qemu: cannot read board file {path}: {e}") from None
    missing = [k for k in ("name", "cflags", "flash", "ram") if k not in data]
    if missing:
        raise TinyTrainError(f"qemu: board file {path} lacks {', '.join(missing)}")
    return data


def parse_size(text: str) -> int:
    """'320K' / '1M' / '0x1000' / 4096 -> bytes."""
    text = str(text).strip()
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)\s*([KkMm]?)", text)
    if not m:
        raise TinyTrainError(f"qemu: cannot read the size {text!r} (expected e.g. 320K, 1M, 0x1000)")
    return int(m.group(1), 0) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


def linker_script(board: dict) -> str:
    vectors = board.get("vectors")
    return (FIRMWARE_DIR / "link.ld.in").read_text().format(
        name=board["name"],
        vectors_region=(f"    VECTORS (rx) : ORIGIN = {vectors['origin']}, LENGTH = {vectors['length']}\n"
                        if vectors else ""),
        vectors="VECTORS" if vectors else "FLASH",
        flash_origin=board["flash"]["origin"], flash_length=board["flash"]["length"],
        ram_origin=board["ram"]["origin"], ram_length=board["ram"]["length"],
        min_stack=board.get("min_stack", "4K"))


FLASH_SECTIONS = (".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".data")  # .data's initial values too


def elf_sections(elf) -> dict:
    """Section name -> bytes of an ELF (arm-none-eabi-size -A); also read by benchmarks/tinyengine_peer.py."""
    result = subprocess.run([SIZE, "-A", str(elf)], capture_output=True, text=True, check=True)
    sections = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sections[fields[0]] = int(fields[1])
    return sections


def toolchain_missing() -> list[str]:
    return [tool for tool in (GCC, SIZE, QEMU) if shutil.which(tool) is None]


def uart_flags(board: dict) -> list[str]:
    """-D flags of the UART transport from the board file's "uart" entry."""
    uart = board.get("uart")
    if not uart:
        raise TinyTrainError(f"board {board['name']} has no \"uart\" entry (driver, base address); add one to use "
                             f"the UART transport")
    drivers = {"cmsdk": "TT_UART_CMSDK", "stm32f7": "TT_UART_STM32F7"}
    if uart.get("driver") not in drivers:
        raise TinyTrainError(f"board {board['name']}: unknown uart driver {uart.get('driver')!r}; known: "
                             f"{', '.join(drivers)}")
    flags = ["-DTT_TRANSPORT_UART", f"-D{drivers[uart['driver']]}", f"-DTT_UART_BASE={uart['base']}u"]
    if "clock_hz" in uart:
        flags += [f"-DTT_UART_CLOCK_HZ={int(uart['clock_hz'])}u", f"-DTT_UART_BAUD={int(uart['baudrate'])}u"]
    return flags


def qemu_command(board: dict, elf: Path, serial: str = "null") -> list[str]:
    """QEMU running `elf` on the board's machine; `serial`: the -serial backend of UART0."""
    return [QEMU, "-machine", board["qemu_machine"], "-cpu", board.get("qemu_cpu", board["name"]),
            "-nographic", "-monitor", "none", "-serial", serial, "-icount", "shift=0",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]


class Firmware:
    """A generated project built into firmware for a board (QEMU's or a real one).

    transport: "semihost" (semihosting files/FIFOs, QEMU only) or "uart" (the board's UART)."""

    TRANSPORTS = {"semihost": "transport_semihost.c", "uart": "transport_uart.c"}

    def __init__(self, project_dir, board, transport: str = "semihost"):
        missing = [tool for tool in (GCC, SIZE) if shutil.which(tool) is None]
        if missing:
            raise TinyTrainError(f"firmware: {', '.join(missing)} not found; install gcc-arm-none-eabi and "
                                 f"libnewlib-arm-none-eabi")
        if transport not in self.TRANSPORTS:
            raise TinyTrainError(f"firmware: unknown transport {transport!r}; use {' or '.join(self.TRANSPORTS)}")
        self.dir = Path(project_dir).resolve()
        self.board = load_board(board)
        self.transport = transport
        self.memory = json.loads((self.dir / "memory.json").read_text())
        self.ld = self.dir / f"firmware_{self.board['name']}.ld"
        suffix = "" if transport == "semihost" else f"_{transport}"
        self.elf = self.dir / f"firmware_{self.board['name']}{suffix}.elf"
        self.ld.write_text(linker_script(self.board))
        self._build()
        self.sections = elf_sections(self.elf)
        self.flash_bytes = sum(v for k, v in self.sections.items() if k in FLASH_SECTIONS)
        self.ram_bytes = self.sections.get(".data", 0) + self.sections.get(".bss", 0)  # static RAM
        self.stack_reserve = self.sections.get(".stack", 0)

    # -- build ---------------------------------------------------------------------------
    def sources(self) -> list[Path]:
        return [self.dir / "model.c", *sorted((self.dir / "kernels").glob("*.c")),
                FIRMWARE_DIR / "startup.c", FIRMWARE_DIR / "device_main.c",
                FIRMWARE_DIR / self.TRANSPORTS[self.transport]]

    def compile_flags(self) -> list[str]:
        """gcc's flags for every source of this firmware (the tests compile its kernels with them too)."""
        defines = [f"-DTT_SYSTICK_HZ={int(self.board.get('systick_hz', 25_000_000))}u"]
        if self.transport == "uart":
            defines += uart_flags(self.board)
            if self.board.get("semihosting", True):
                defines.append("-DTT_SEMIHOSTING")
        return [*CFLAGS, *self.board["cflags"], "-ffunction-sections", "-fdata-sections", *defines]

    def _build(self):
        cmd = [GCC, *self.compile_flags(), f"-I{self.dir / 'kernels'}", f"-I{self.dir}", f"-I{FIRMWARE_DIR}",
               *map(str, self.sources()), *LINK_FLAGS, "-T", str(self.ld), f"-Wl,-Map={self.elf.with_suffix('.map')}",
               "-o", str(self.elf), "-lm"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == 0:
            return
        overflows = {region: int(n) for region, n in _OVERFLOW.findall(result.stderr)}
        if overflows:
            raise TinyTrainError(self._budget_message(overflows))
        raise TinyTrainError(f"firmware: the build for {self.board['name']} failed:\n{' '.join(cmd)}\n"
                             f"{result.stderr.strip()[-4000:]}")

    def _budget_message(self, overflows: dict) -> str:
        m = self.memory
        parts = []
        if "RAM" in overflows:
            sample = ("its ring of input rows" if m.get("input", {}).get("rows") else "the sample's slot")
            ram = {f"the activation arena ({sample} included)": m["arena_bytes"],
                   "the trained parameters": m["updated_param_bytes"],
                   "the minimum stack": parse_size(self.board.get("min_stack", "4K"))}
            largest = max(ram, key=ram.get)
            parts.append(f"SRAM is {overflows['RAM']} bytes short: the program needs "
                         f"{parse_size(self.board['ram']['length']) + overflows['RAM']} bytes of the "
                         f"{self.board['ram']['length']} budget; largest part: {largest} ({ram[largest]} bytes; "
                         + ", ".join(f"{k} {v}" for k, v in ram.items()) + ")")
        if "FLASH" in overflows:
            flash = {"the frozen weights and constants": m["const_bytes"],
                     "the initial values of the trained parameters": m["updated_param_bytes"]}
            largest = max(flash, key=flash.get)
            parts.append(f"flash is {overflows['FLASH']} bytes short of the {self.board['flash']['length']} budget; "
                         f"largest part: {largest} ({flash[largest]} bytes), the rest is code")
        for region, n in overflows.items():
            if region not in ("RAM", "FLASH"):
                parts.append(f"region {region} overflowed by {n} bytes")
        return (f"firmware: {m['model']} ({m['scheme']}) does not fit board {self.board['name']}: " + "; ".join(parts)
                + ". Choose a scheme that trains fewer layers or a smaller model, or a larger board.")


class QemuProgram(Firmware):
    def __init__(self, project_dir, board="cortex-m7", transport: str = "semihost"):
        if "qemu_machine" not in load_board(board):
            raise TinyTrainError(f"qemu: board {load_board(board)['name']} has no qemu_machine (a real board?); "
                                 f"run it with targets.board.BoardProgram over its serial port")
        if shutil.which(QEMU) is None:
            raise TinyTrainError(f"qemu: {QEMU} not found; install qemu-system-arm")
        super().__init__(project_dir, board, transport)
        self.last_counts: list[int] = []  # instructions per request of the last run()

    # -- run -----------------------------------------------------------------------------
    def command(self, serial: str = "null") -> list[str]:
        return qemu_command(self.board, self.elf, serial)

    def _explain(self, status: int):
        """None for a normal end (tt_error is reported through the trailer), else the meaning."""
        if status in (0, 1):
            return None
        return EXIT_MEANING.get(status, "QEMU itself failed or was killed")

    def session(self, timeout: float | None = 600.0) -> ProcessSession:
        """Start QEMU and connect to the firmware; `timeout`: seconds any one request (and the
        boot) may take."""
        deadline = None if timeout is None else time.monotonic() + timeout
        name = f"firmware on {self.board['name']} ({self.board['qemu_machine']})"
        if self.transport == "uart":
            return self._uart_session(timeout, deadline, name)
        return self._fifo_session(timeout, deadline, name)

    def _start(self, serial: str = "null"):
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(self.command(serial), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        return proc, log

    @staticmethod
    def _boot_failure(proc, log, name, waiting_for, timeout) -> TinyTrainError:
        exited = proc.poll() is not None
        kill_group(proc)
        log.seek(0)
        output = log.read().decode(errors="replace")[-2000:]
        log.close()
        what = (f"exited with status {proc.returncode} before {waiting_for}" if exited
                else f"did not get to {waiting_for} within {timeout} s; QEMU was killed")
        return TinyTrainError(f"qemu: {name} {what}\n{output}")

    def _fifo_session(self, timeout, deadline, name):
        """requests.bin / answers.bin as named pipes that the firmware opens through semihosting."""
        fifos = [self.dir / "requests.bin", self.dir / "answers.bin"]

        def remove_fifos():
            for path in fifos:
                path.unlink(missing_ok=True)

        remove_fifos()
        fds, proc, log = [], None, None
        try:  # whatever stops the start (a boot failure, Ctrl-C, SIGTERM) stops QEMU and removes the FIFOs
            for path in fifos:
                os.mkfifo(path)
            # Our read end first, so QEMU's open of answers.bin for writing does not block.
            fds.append(os.open(fifos[1], os.O_RDONLY | os.O_NONBLOCK))
            proc, log = self._start()
            while True:  # the firmware opens requests.bin at boot; until then a writer cannot open it
                try:
                    fds.append(os.open(fifos[0], os.O_WRONLY | os.O_NONBLOCK))
                    break
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
                if proc.poll() is not None or (deadline is not None and time.monotonic() > deadline):
                    raise self._boot_failure(proc, log, name, "opening requests.bin", timeout)
                time.sleep(0.002)
            return ProcessSession(proc, log, FdLink(fds[1], fds[0]), self.memory, "qemu", counted=True,
                                  timeout=timeout, explain=self._explain, name=name, on_cleanup=remove_fifos,
                                  cleanup_note="QEMU killed, requests.bin/answers.bin FIFOs removed")
        except BaseException:
            if proc is not None:
                kill_group(proc)
                log.close()
            for fd in fds:
                os.close(fd)
            remove_fifos()
            raise

    def _uart_session(self, timeout, deadline, name):
        """The board's UART on a TCP socket QEMU listens on (pyserial socket://): QEMU waits for
        the connection before it starts the guest, so no byte is lost."""
        from .serial_link import SerialLink

        with socket.socket() as probe:  # a free port (QEMU fails to start if it is taken meanwhile)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc, log = self._start(f"tcp:127.0.0.1:{port},server=on,wait=on")
        try:
            link = SerialLink.open(f"socket://127.0.0.1:{port}", deadline=deadline, alive=lambda: proc.poll() is None)
        except TinyTrainError:
            raise self._boot_failure(proc, log, name, f"listening on TCP port {port}", timeout) from None
        except BaseException:  # Ctrl-C, SIGTERM while connecting: QEMU does not outlive us
            kill_group(proc)
            log.close()
            raise
        return ProcessSession(proc, log, link, self.memory, "qemu", counted=True, timeout=timeout,
                              explain=self._explain, name=name, cleanup_note="QEMU killed")

    def run(self, requests, timeout: float = 600.0):
        """requests: (kind, arg, payload) -> (answers, final trained params, error, stack bytes);
        `timeout` applies to each request.

        Also sets `self.last_counts`: the instructions each request took, in request order."""
        self.last_counts = []
        with self.session(timeout) as s:
            answers = [s.request(*r) for r in requests]
        self.last_counts = s.counts
        return answers, s.final_params, s.error, s.stack_bytes
