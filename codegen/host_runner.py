"""The `host` target: build a generated project with gcc and replay requests through it.

The same C that runs on a board, compiled for this machine (optionally with AddressSanitizer
and UndefinedBehaviorSanitizer), driven through `host_main.c`'s request file.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from tvm_tinytrain.errors import TinyTrainError

from .host_build import SANITIZE, compile_c, kernel_sources
from .protocol import encode_requests, parse_answers

HOST_MAIN = Path(__file__).resolve().parent / "host_main.c"


class HostProgram:
    def __init__(self, project_dir: Path, sanitize: bool = False):
        self.dir = Path(project_dir)
        self.memory = json.loads((self.dir / "memory.json").read_text())
        self.exe = self.dir / ("host_runner_asan" if sanitize else "host_runner")
        flags = ("-O1", *SANITIZE) if sanitize else ("-O2",)
        compile_c([self.dir / "model.c", HOST_MAIN, *kernel_sources()], self.exe, flags, include_dirs=(self.dir,))

    def run(self, requests, timeout: float = 600.0):
        """requests: (kind, label, int8 input) tuples -> (answers, trained params, error line)."""
        req, out = self.dir / "requests.bin", self.dir / "answers.bin"
        req.write_bytes(encode_requests(requests, self.memory, "host runner"))
        result = subprocess.run([str(self.exe), str(req), str(out)], capture_output=True, text=True, timeout=timeout)
        if result.returncode not in (0, 1):
            raise TinyTrainError(f"host runner failed ({result.returncode}):\n{result.stderr[-4000:]}")
        answers, _, params, (error,) = parse_answers(out.read_bytes(), requests, self.memory, "host runner",
                                                     with_counts=False, trailer=1)
        return answers, params, error
