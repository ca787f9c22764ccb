"""Ctrl-C (SIGINT) and SIGTERM during `tvm-tinytrain train`: one line saying what was stopped,
exit status 130 / 143 (128 + the signal), no traceback, no program (host runner, QEMU) left
running, no FIFO, lock or temporary left, and no results written. At c884120 SIGINT printed a
traceback and SIGTERM killed the CLI outright, leaving requests.bin / answers.bin in DIR/project."""
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tvm_tinytrain.targets.qemu import toolchain_missing

REPO = Path(__file__).resolve().parents[2]


class Run:
    """`tvm-tinytrain train` in a subprocess, its stdout and stderr collected as they come."""

    def __init__(self, out: Path, *extra, scheme="bias-only"):
        argv = [sys.executable, "-m", "tvm_tinytrain.cli", "train", "mcunet-5fps", "--scheme", scheme,
                "--data", "cifar10:classes=0,1", "--train-per-class", "300", "--test-per-class", "2",
                "--epochs", "20", "--out", str(out), *extra]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.out, self.err = bytearray(), bytearray()
        self._threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, buf):
        while chunk := stream.read1(4096):
            buf.extend(chunk)

    def wait_for(self, text: str, stream: str = "err", timeout: float = 300):
        deadline = time.monotonic() + timeout
        buf = self.err if stream == "err" else self.out
        while text.encode() not in buf:
            assert self.proc.poll() is None, f"the run ended before {text!r}:\n{bytes(self.err).decode()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s"
            time.sleep(0.05)

    def stop(self, sig) -> tuple[int, str]:
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout=60)
        for t in self._threads:
            t.join(timeout=10)
        return status, bytes(self.err).decode(errors="replace")


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention `text` (a run's folder)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if text in cmd or text in exe:
            found.append(cmd)
    return found


def check_clean_stop(status, err, expect_status, signame, out: Path, program: str):
    assert status == expect_status, f"exit status {status}:\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    reports = [line for line in err.splitlines() if "interrupted" in line]
    assert len(reports) == 1, err[-3000:]
    last = err.rstrip("\n").splitlines()[-1].split("\r")[-1]  # after any cleared progress bar
    assert last.startswith(f"interrupted by {signame}; {program} stopped"), last
    time.sleep(0.2)
    assert processes_mentioning(str(out)) == []
    left = [p for p in out.rglob("*") if stat.S_ISFIFO(p.lstat().st_mode) or p.name.endswith((".tmp", ".lock"))]
    assert left == []
    assert not any((out / name).exists() for name in ("checkpoint.npz", "history.json", "loss.png"))


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_host_training_stops_cleanly(tmp_path, sig, status):
    run = Run(tmp_path / "run")
    run.wait_for("epoch 1/")  # the host runner is training
    code, err = run.stop(sig)
    check_clean_stop(code, err, status, sig.name, tmp_path / "run", "the host runner")


def test_interrupt_before_training_starts(tmp_path):
    run = Run(tmp_path / "run")
    run.wait_for("scheme bias-only", stream="out")  # data loaded; the program is being built (TVM)
    code, err = run.stop(signal.SIGINT)
    assert code == 130 and "Traceback" not in err, err[-3000:]
    assert err.rstrip("\n").splitlines()[-1].split("\r")[-1].startswith("interrupted by SIGINT; ")
    time.sleep(0.2)
    assert processes_mentioning(str(tmp_path / "run")) == []
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.endswith((".tmp", ".lock"))]


@pytest.mark.slow  # builds firmware and boots QEMU twice (~1 min)
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_qemu_training_stops_cleanly(tmp_path, sig, status):
    out = tmp_path / "run"
    run = Run(out, "--target", "cortex-m7", scheme="paper-100kb")  # bias-only needs 700 KB of SRAM
    run.wait_for("epoch 1/")  # QEMU is up and the firmware is training
    assert (out / "project" / "requests.bin").exists()
    code, err = run.stop(sig)
    check_clean_stop(code, err, status, sig.name, out, "firmware on cortex-m7 (mps2-an500)")
    assert "QEMU killed, requests.bin/answers.bin FIFOs removed" in err
    assert not (out / "project" / "requests.bin").exists() and not (out / "project" / "answers.bin").exists()


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (zombies excluded)."""
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(pid))
    return members


@pytest.mark.parametrize("sig, status, to_group", [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)])
def test_interrupted_analysis_stops_its_workers(tmp_path, sig, status, to_group):
    """Ctrl-C at a terminal reaches the whole process group, SIGTERM only the parent: either way the parent
    reports once and terminates its workers at once (before, a SIGTERM left it waiting for the running
    trials to finish, minutes here)."""
    argv = [sys.executable, "-m", "tvm_tinytrain.cli", "analyze", "mcunet-5fps", "--data", "cifar10:classes=0,1",
            "--train-per-class", "1000", "--test-per-class", "2", "--epochs", "5", "--layers", "40", "--ratios", "1",
            "--bias-depths", "1", "2", "--workers", "2", "--out", str(tmp_path / "r.json")]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while len(_group_members(proc.pid)) < 4:  # the parent, the resource tracker and two workers
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
        time.sleep(0.1)
    time.sleep(8)  # the workers are in their runs (loading the model and data, building the program)
    (os.killpg if to_group else os.kill)(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"analyze still running 60 s after {sig.name}")
    err = err.decode(errors="replace")
    assert proc.returncode == status and "Traceback" not in err, err[-3000:]
    assert [line for line in err.splitlines() if "interrupted" in line][0].split("\r")[-1].startswith(
        f"interrupted by {sig.name}")
    deadline = time.monotonic() + 15  # the resource tracker exits once the parent's pipe has closed
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in _group_members(proc.pid)]
    assert left == []
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".lock"))]
