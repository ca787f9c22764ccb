"""The `host` target: build a generated project with gcc and drive it.

The same C that runs on a board, compiled for this machine (optionally with AddressSanitizer
and UndefinedBehaviorSanitizer), driven through `host_main.c` over pipes:

    prog = HostProgram(project_dir)
    with prog.session() as s:                          # see session.py
        loss = s.train(x, label)
    answers, params, error = prog.run(requests)        # a whole list of requests at once
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tvm_tinytrain.errors import TinyTrainError

from .host_build import SANITIZE, compile_c, host_flags, kernel_sources
from .session import FdLink, ProcessSession, kill_group

HOST_MAIN = Path(__file__).resolve().parent / "host_main.c"
EXIT_MEANING = {1: "tt_error() is set (a kernel rejected its arguments)", 2: "I/O or protocol error"}


def _explain(status: int):
    """None for a normal end (tt_error is reported through the trailer), else the meaning."""
    if status in (0, 1):
        return None
    return EXIT_MEANING.get(status, f"killed by signal {-status}" if status < 0 else "the host runner failed")


class HostProgram:
    def __init__(self, project_dir: Path, sanitize: bool = False):
        self.dir = Path(project_dir)
        self.memory = json.loads((self.dir / "memory.json").read_text())
        self.exe = self.dir / ("host_runner_asan" if sanitize else "host_runner")
        flags = ("-O1", *SANITIZE) if sanitize else host_flags()
        compile_c([self.dir / "model.c", HOST_MAIN, *kernel_sources()], self.exe, flags, include_dirs=(self.dir,))

    def session(self, timeout: float | None = 600.0) -> ProcessSession:
        """Start the runner on pipes; `timeout`: seconds any one request may take."""
        child_in, parent_out = os.pipe()
        parent_in, child_out = os.pipe()
        log = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen([str(self.exe), "-", "-"], stdin=child_in, stdout=child_out, stderr=log,
                                    start_new_session=True)
        except OSError as e:
            for fd in (child_in, parent_out, parent_in, child_out):
                os.close(fd)
            log.close()
            raise TinyTrainError(f"host runner: cannot start {self.exe}: {e}") from None
        try:
            os.close(child_in)
            os.close(child_out)
            return ProcessSession(proc, log, FdLink(parent_out, parent_in), self.memory, "host runner",
                                  counted=False, timeout=timeout, explain=_explain, name="the host runner")
        except BaseException:  # Ctrl-C, SIGTERM here: the runner does not outlive us
            kill_group(proc)
            log.close()
            raise

    def run(self, requests, timeout: float = 600.0):
        """requests: (kind, arg, payload) tuples -> (answers, final trained params, tt_error value);
        `timeout` applies to each request."""
        with self.session(timeout) as s:
            answers = [s.request(*r) for r in requests]
        return answers, s.final_params, s.error
