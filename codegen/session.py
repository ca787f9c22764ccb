"""A live conversation with a running generated program: one request, then its answer.

    with HostProgram(project).session() as s:         # or QemuProgram(project, board).session()
        loss = s.train(x, label)
        logits = s.predict(x)
        s.set_learning_rates(lr_weight, lr_bias)
        params = s.params()
        s.instructions                                 # device: instructions of the last request
    s.error, s.stack_bytes, s.final_params             # once the program has ended

Streaming instead of a request file lets a training driver decide the next request from the
last answer (learning-rate schedules, early stopping) without restarting the program, which
would reset the trained parameters. The byte format is protocol.py's; a link moves the bytes
(pipes, FIFOs, a serial line) and the process around it, if any, is the target's business.
"""
from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import time

from tvm_tinytrain.errors import TinyTrainError

from .protocol import (COUNT, END, KIND_NAMES, PARAMS, PREDICT, SET_LR, TRAIN, answer_bytes, decode_answer,
                       decode_params, encode_request, params_bytes)


class LinkClosed(Exception):
    """The program closed its end (it exited or crashed)."""


class LinkTimeout(Exception):
    """No progress before the deadline (a hang, or a request slower than the timeout)."""


def remaining(deadline):
    """Seconds left before a time.monotonic() deadline (None: no deadline)."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


class FdLink:
    """Requests to one file descriptor, answers from another (pipes or FIFOs), under deadlines.

    Non-blocking with poll, so a program that stops reading or writing is noticed at the
    deadline instead of blocking this process forever."""

    def __init__(self, write_fd: int, read_fd: int):
        self.write_fd, self.read_fd = write_fd, read_fd
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)

    def _wait(self, fd, event, deadline):
        poller = select.poll()
        poller.register(fd, event)
        left = remaining(deadline)
        if not poller.poll(None if left is None else int(left * 1000) + 1):
            if left is not None and time.monotonic() >= deadline:
                raise LinkTimeout

    def write(self, data: bytes, deadline):
        view = memoryview(data)
        while view:
            self._wait(self.write_fd, select.POLLOUT, deadline)
            try:
                view = view[os.write(self.write_fd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise LinkClosed from None

    def read(self, n: int, deadline) -> bytes:
        chunks, got = [], 0
        while got < n:
            self._wait(self.read_fd, select.POLLIN, deadline)
            try:
                chunk = os.read(self.read_fd, n - got)
            except BlockingIOError:
                continue
            if not chunk:
                raise LinkClosed
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def end_requests(self):
        """EOF on the request stream: the program answers with its final parameters and ends."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self):
        self.end_requests()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1


class Session:
    """The protocol over a link; subclasses say how the program ends and how a failure reads.

    `counted`: the program sends an instruction count after every answer and its stack
    high-water mark in the trailer (a device)."""

    def __init__(self, link, memory: dict, who: str, counted: bool, timeout: float | None):
        self.link, self.memory, self.who, self.counted, self.timeout = link, memory, who, counted, timeout
        self.instructions = None  # instructions of the last request (device only)
        self.counts: list[int] = []  # instructions of every request so far (device only)
        self.requests = 0
        self.error = self.stack_bytes = self.final_params = None
        self._open = True

    # -- the requests --------------------------------------------------------------------------
    def train(self, x, label: int) -> float:
        return self.request(TRAIN, label, x)

    def predict(self, x):
        return self.request(PREDICT, 0, x)

    def set_learning_rates(self, lr_weight: float, lr_bias: float):
        self.request(SET_LR, 0, (lr_weight, lr_bias))

    def params(self) -> dict:
        return self.request(PARAMS, 0, None)

    def request(self, kind: int, arg: int, payload):
        if not self._open:
            raise TinyTrainError(f"{self.who}: the session has ended; open a new one with .session()")
        data = encode_request(kind, arg, payload, self.memory, self.who)
        self.requests += 1
        what = f"request {self.requests} ({KIND_NAMES[kind]})"
        self._io(self.link.write, data, what)
        answer = decode_answer(kind, self._io(self.link.read, answer_bytes(kind, self.memory), what), self.memory)
        if self.counted:
            self.instructions = COUNT.unpack(self._io(self.link.read, COUNT.size, what))[0]
            self.counts.append(self.instructions)
        return answer

    # -- the end -------------------------------------------------------------------------------
    def close(self):
        """End the request stream, collect the final parameters and trailer, wait for the end."""
        if not self._open:
            return
        try:
            self._io(self.link.write, encode_request(END, 0, None, self.memory, self.who), "the end request")
            self.link.end_requests()
            what = "the final parameters"
            self.final_params = decode_params(self._io(self.link.read, params_bytes(self.memory), what), self.memory)
            n = 2 if self.counted else 1
            trailer = struct.unpack(f"<{n}i", self._io(self.link.read, 4 * n, what))
            self.error = trailer[0]
            self.stack_bytes = trailer[1] if self.counted else None
            self._finish()
        except BaseException:
            self._abort()
            raise
        finally:
            self._open = False
            self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif self._open:
            self._open = False
            self._abort()
            self._cleanup()
        return False

    def _io(self, op, arg, what):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            return op(arg, deadline)
        except (LinkTimeout, LinkClosed) as e:
            self._open = False
            raise self._failure(what, e) from None

    # -- what a target provides ----------------------------------------------------------------
    def _finish(self):
        """After the trailer: wait for the program's normal end (raise if it was not)."""

    def _failure(self, what: str, cause: Exception) -> TinyTrainError:
        """Stop the program; the error to raise for a request that got no answer (cause:
        LinkTimeout or LinkClosed)."""
        raise NotImplementedError

    def _abort(self):
        """Stop the program now (an exception left the session)."""

    def _cleanup(self):
        self.link.close()


# What sessions stopped because Ctrl-C or SIGTERM (a KeyboardInterrupt) left them; the CLI
# names it in its one-line report (take_interrupted).
_INTERRUPTED: list[str] = []


def take_interrupted() -> list[str]:
    """What interrupted sessions stopped and removed, since the last call."""
    notes = list(_INTERRUPTED)
    _INTERRUPTED.clear()
    return notes


class ProcessSession(Session):
    """A session with a local process (the host runner, QEMU), killed with its process group on
    any failure. `explain(status)`: None for a normal exit status, else what the status means;
    `on_cleanup` removes what the process needed beside it (`cleanup_note` says what, for the
    report of an interrupted run)."""

    def __init__(self, proc: subprocess.Popen, log, link, memory, who, counted, timeout, explain, name: str,
                 on_cleanup=None, cleanup_note: str = ""):
        super().__init__(link, memory, who, counted, timeout)
        self.proc, self.log, self.explain, self.name, self.on_cleanup = proc, log, explain, name, on_cleanup
        self.cleanup_note = cleanup_note

    def __exit__(self, exc_type, exc, tb):
        running = self.proc.poll() is None
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                _INTERRUPTED.append(f"{self.name} {'stopped' if running else 'had ended'}"
                                    + (f" ({self.cleanup_note})" if self.cleanup_note else ""))

    def _finish(self):
        try:
            status = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._abort()
            raise TinyTrainError(f"{self.who}: {self.name} did not exit within {self.timeout} s after its last "
                                 f"answer; it was killed") from None
        meaning = self.explain(status)
        if meaning is not None:
            raise TinyTrainError(f"{self.who}: {self.name} exited with status {status}: {meaning}\n{self.output()}")

    def _failure(self, what, cause):
        if isinstance(cause, LinkTimeout):
            self._abort()
            message = (f"{self.who}: {self.name} did not answer {what} within {self.timeout} s (hang or too slow); "
                       f"it was killed")
        else:
            try:  # it closed its end: it is exiting, give it a moment to report its status
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._abort()
            status = self.proc.returncode
            message = (f"{self.who}: {self.name} ended during {what} with status {status}: "
                       f"{self.explain(status) or 'it stopped before answering'}")
        output = self.output()
        self._cleanup()
        return TinyTrainError(message + (f"\n{output}" if output else ""))

    def _abort(self):
        kill_group(self.proc)

    def _cleanup(self):
        kill_group(self.proc)
        self.link.close()
        self.log.close()
        if self.on_cleanup is not None:
            self.on_cleanup()

    def output(self) -> str:
        """The tail of the program's stdout/stderr (a fault message, a sanitizer report)."""
        try:
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-4000:].strip()
        except (OSError, ValueError):
            return ""


def kill_group(proc: subprocess.Popen):
    """SIGKILL the process group of a process started with start_new_session=True, and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
