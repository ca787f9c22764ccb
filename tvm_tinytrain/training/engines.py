"""What executes training steps: the generated C (on this host or on a board under QEMU) and,
as the experiments' fp32 baseline, PyTorch on the dequantized weights.

Both have the same small interface, so the epoch loop (fit.py) does not care which runs:
`train(x_int8, label) -> loss` (with the MSE loss, the label is the float32 target),
`predict(x_int8) -> logits`, `output(x_int8) -> the real-valued output` (what the loss sees),
`set_learning_rates(w, b)`, `params()`; used as a context manager.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import TinyTrainError
from .checkpoint import whole_params

HOST = "host"


class CEngine:
    """A training program compiled to C and driven one request at a time (a session)."""

    def __init__(self, program, target: str = HOST, workdir=None, timeout: float = 3600.0):
        from ..codegen.emit import generate, write_project

        self.program, self.target = program, target
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tinytrain-")
            workdir = self._tmp.name
        self.dir = Path(workdir)
        write_project(generate(program), self.dir, force=True, target=target)
        if target == HOST:
            from ..codegen.host_runner import HostProgram

            self._prog = HostProgram(self.dir)
            self._session = self._prog.session()
        else:
            from ..targets.qemu import QemuProgram, load_board

            self._prog = QemuProgram(self.dir, load_board(target))
            self._session = self._prog.session(timeout=timeout)
        self.memory = self._prog.memory
        self._s = None

    def __enter__(self):
        self._s = self._session.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            return self._session.__exit__(*exc)
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    @property
    def instructions(self):
        """Instructions the last request took (a board only; None on the host)."""
        return self._s.instructions

    def train(self, x, label) -> float:
        if self.program.scheme.loss == "mse":
            return float(self._s.train(x, np.asarray(label, np.float32)))
        return float(self._s.train(x, int(label)))

    def predict(self, x) -> np.ndarray:
        return np.asarray(self._s.predict(x), np.float32)

    def output(self, x) -> np.ndarray:
        """The real values the loss sees: the int8 output dequantized (an fp32 head's as they are)."""
        y = self.predict(x)
        if self.program.scheme.fp32_classifier:
            return y
        q = self.program.graph.q_of(self.program.graph.output)
        return (np.float32(q.scale) * (y - np.float32(q.zero))).astype(np.float32)

    def set_learning_rates(self, lr_weight: float, lr_bias: float):
        self._s.set_learning_rates(float(lr_weight), float(lr_bias))

    def params(self) -> dict:
        """The trained tensors, whole (split weights reassembled), as a checkpoint stores them."""
        return whole_params(self._s.params(), self.memory, self.program.params)

    def error(self) -> int:
        """tt_error() of the program; known once the session has ended."""
        return int(self._session.error or 0)

    def footprint(self) -> dict | None:
        """A board's peak SRAM and flash against its budgets (targets/footprint.py), None on the
        host; known once the session has ended (the stack's high-water mark comes with the end)."""
        if self.target == HOST:
            return None
        from ..targets.footprint import footprint

        return footprint(self._prog, self._session.stack_bytes)


class FloatEngine:
    """fp32 SGD (with the scheme's momentum, as torch defines it) on the dequantized weights, updating
    exactly a scheme's tensors, with the scheme's loss (cross-entropy, or torch's mean MSE)."""

    def __init__(self, graph, scheme):
        import torch

        from ..float_model import FloatNet, sparse_parameters

        self.torch = torch
        self.net = FloatNet(graph)
        trained = sparse_parameters(self.net, scheme)
        biases = {id(self.net.module(n).bias) for n in scheme.bias}
        weights = [p for p in trained if id(p) not in biases]
        bias_params = [p for p in trained if id(p) in biases]
        # one param group per kind; `_kinds[i]` says which rate group i takes (torch copies the lists)
        self._kinds = [kind for kind, params in (("weight", weights), ("bias", bias_params)) if params]
        if not self._kinds:
            raise TinyTrainError(f"scheme {scheme.name!r} trains nothing")
        lr = {"weight": scheme.lr_weight, "bias": scheme.lr_bias}
        params = {"weight": weights, "bias": bias_params}
        self.opt = torch.optim.SGD([{"params": params[k], "lr": lr[k]} for k in self._kinds], lr=scheme.lr_weight,
                                   momentum=scheme.momentum)
        self.mse = scheme.loss == "mse"
        self.loss_fn = torch.nn.MSELoss(reduction="mean") if self.mse else torch.nn.CrossEntropyLoss()
        self.instructions = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def train(self, x, label) -> float:
        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        y = self.net(self.net.input_tensor(x))
        target = self.torch.tensor(np.asarray(label, np.float32).reshape(y.shape)) if self.mse \
            else self.torch.tensor([int(label)])
        loss = self.loss_fn(y, target)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def predict(self, x) -> np.ndarray:
        with self.torch.no_grad():
            return self.net(self.net.input_tensor(x))[0].numpy()

    def output(self, x) -> np.ndarray:
        return self.predict(x)

    def set_learning_rates(self, lr_weight: float, lr_bias: float):
        for group, kind in zip(self.opt.param_groups, self._kinds):
            group["lr"] = lr_weight if kind == "weight" else lr_bias

    def params(self) -> dict:
        return {name: p.detach().numpy().copy() for name, p in self.net.named_parameters() if p.requires_grad}

    def error(self) -> int:
        return 0

    def footprint(self) -> None:
        return None
