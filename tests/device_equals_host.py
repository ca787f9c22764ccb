"""The same requests on a QEMU board and on the host build of one generated project: losses, the
prediction's logits and every trained value read back must be equal bit for bit."""
import numpy as np

from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.compiler import STACK_RESERVE
from tvm_tinytrain.targets.qemu import QemuProgram


def device_equals_host(folder, requests, board: str = "cortex-m7", timeout: float = 180):
    """`requests`: TRAIN requests, then one PREDICT last.  The device's stack also stays within the stack an SRAM
    budget reserves (compiler.STACK_RESERVE), so a budget bounds the peak the device measures."""
    h_answers, h_params, h_error = HostProgram(folder).run(requests)
    answers, params, error, stack = QemuProgram(folder, board).run(requests, timeout=timeout)
    assert error == h_error == 0
    assert 0 < stack <= STACK_RESERVE
    assert answers[:-1] == h_answers[:-1] and all(np.isfinite(answers[:-1]))
    np.testing.assert_array_equal(answers[-1], h_answers[-1])
    assert params.keys() == h_params.keys() and params
    for name, value in h_params.items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
