"""The `host` target: build a generated project with gcc and replay requests through it.

The same C that runs on a board, compiled for this machine (optionally with AddressSanitizer
and UndefinedBehaviorSanitizer), driven through `host_main.c`'s request file.
"""
from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np

from tvm_tinytrain.errors import TinyTrainError

from .host_build import SANITIZE, compile_c, kernel_sources

HOST_MAIN = Path(__file__).resolve().parent / "host_main.c"
TRAIN, PREDICT = 0, 1


class HostProgram:
    def __init__(self, project_dir: Path, sanitize: bool = False):
        self.dir = Path(project_dir)
        self.memory = json.loads((self.dir / "memory.json").read_text())
        self.exe = self.dir / ("host_runner_asan" if sanitize else "host_runner")
        flags = ("-O1", *SANITIZE) if sanitize else ("-O2",)
        compile_c([self.dir / "model.c", HOST_MAIN, *kernel_sources()], self.exe, flags, include_dirs=(self.dir,))

    def run(self, requests, timeout: float = 600.0):
        """requests: (kind, label, int8 input) tuples -> (answers, trained params, error line)."""
        n_input = int(np.prod(self.memory["input_shape"]))
        blob = bytearray()
        for kind, label, x in requests:
            x = np.asarray(x, np.int8).reshape(-1)
            if x.size != n_input:
                raise TinyTrainError(f"host runner: input has {x.size} values, the model takes {n_input}")
            blob += struct.pack("<ii", kind, int(label)) + x.tobytes()
        req, out = self.dir / "requests.bin", self.dir / "answers.bin"
        req.write_bytes(bytes(blob))
        result = subprocess.run([str(self.exe), str(req), str(out)], capture_output=True, text=True, timeout=timeout)
        if result.returncode not in (0, 1):
            raise TinyTrainError(f"host runner failed ({result.returncode}):\n{result.stderr[-4000:]}")
        data = out.read_bytes()
        answers, pos = [], 0
        for kind, _, _ in requests:
            if kind == TRAIN:
                answers.append(struct.unpack_from("<f", data, pos)[0])
                pos += 4
            else:
                n = self.memory["num_classes"]
                dtype = np.float32 if self.memory["fp32_classifier"] else np.int8
                answers.append(np.frombuffer(data, dtype, n, pos).copy())
                pos += n * np.dtype(dtype).itemsize
        params = {}
        for p in self.memory["trained_params"]:
            count = int(np.prod(p["shape"]))
            value = np.frombuffer(data, p["dtype"], count, pos).reshape(p["shape"]).copy()
            params[p["name"]] = value
            pos += value.nbytes
        (error,) = struct.unpack_from("<i", data, pos)
        return answers, params, error
