"""Streaming sessions on QEMU (semihosting on FIFOs) against host sessions.

tiny_resnet (32x32 CIFAR-10 images, last-1 scheme) on an emulated Cortex-M7: two steps, a
learning-rate change, a PARAMS read, a step after it and a prediction give the host session's
losses, parameters and logits bit for bit; the firmware waits between requests (the wait is not
counted as instructions); the FIFOs are gone afterwards.
"""
import time

import numpy as np
import pytest

from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.targets.qemu import QemuProgram, toolchain_missing

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def drive(session, images):
    (x0, y0), (x1, y1), (x2, y2), (x3, _) = images
    losses = [session.train(x0, y0), session.train(x1, y1)]
    session.set_learning_rates(0.3, 0.05)
    middle = session.params()
    losses.append(session.train(x2, y2))
    return losses, middle, session.predict(x3)


def test_qemu_session_matches_host_session(tiny_resnet, images):
    with HostProgram(tiny_resnet).session() as h:
        h_losses, h_middle, h_logits = drive(h, images)
    prog = QemuProgram(tiny_resnet, "cortex-m7")
    with prog.session(timeout=60) as s:
        losses, middle, logits = drive(s, images)
        counts = list(s.counts)
        time.sleep(0.3)  # the firmware blocks in its read of the next request meanwhile
        again = s.predict(images[3][0])
        assert abs(s.instructions - counts[-1]) <= 80  # one SysTick tick at each end, not the wait
    assert losses == h_losses and all(np.isfinite(losses))
    np.testing.assert_array_equal(logits, h_logits)
    np.testing.assert_array_equal(again, logits)
    for name, value in h.final_params.items():
        np.testing.assert_array_equal(middle[name], h_middle[name], err_msg=name)
        np.testing.assert_array_equal(s.final_params[name], value, err_msg=name)
    assert s.error == 0 and 0 < s.stack_bytes < 8192
    train, set_lr, params, predict = counts[0], counts[2], counts[3], counts[5]
    assert set_lr < 1000 and params < 10_000 and predict < train, counts
    assert not (tiny_resnet / "requests.bin").exists() and not (tiny_resnet / "answers.bin").exists()
    print(f"\ntiny_resnet on cortex-m7: instructions per request {counts}, stack {s.stack_bytes} B")
