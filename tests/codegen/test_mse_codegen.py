"""The MSE loss in generated C: the TRAIN request carries the float32 target after the sample.
On the host (ASan + UBSan) against the TVM-built Relax step of a small autoencoder: losses within
1e-5 relative, updated parameters equal or one unit apart at rounding boundaries; on QEMU's
Cortex-M7 equal to the host bit for bit; a target of the wrong size is refused before sending."""
import numpy as np
import pytest
from mse_autoencoder import int8_autoencoder

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.relax_trainer import RelaxTrainer
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import QemuProgram, toolchain_missing

STEPS = 3


@pytest.fixture(scope="module")
def autoencoder():
    return int8_autoencoder(samples=STEPS + 1)


def _project(autoencoder, tmp_path, **overrides):
    graph, _ = autoencoder
    program = build_training(graph, resolve_scheme("full", graph, loss="mse", lr_weight=0.5, lr_bias=0.5,
                                                   **overrides))
    write_project(generate(program), tmp_path)
    return program


@pytest.mark.parametrize("overrides", [{}, {"fp32_classifier": True}])
def test_c_mse_step_matches_relax(autoencoder, tmp_path, overrides):
    _, pairs = autoencoder
    program = _project(autoencoder, tmp_path, **overrides)
    host = HostProgram(tmp_path, sanitize=True)
    assert host.memory["loss"] == "mse"
    assert "#define TT_TARGET_FLOATS 40" in (tmp_path / "model.h").read_text()
    answers, c_params, error = host.run([(TRAIN, t, x) for x, t in pairs[:STEPS]] + [(PREDICT, 0, pairs[STEPS][0])])
    assert error == 0
    relax_side = RelaxTrainer(program)
    for step, (x, target) in enumerate(pairs[:STEPS]):
        loss = relax_side.step(x, target, step)
        assert loss > 0 and abs(answers[step] - loss) <= 1e-5 * loss, (step, answers[step], loss)
    assert len(c_params) == len(relax_side.updated)
    for name, value in relax_side.params.items():
        if name not in c_params:
            continue
        if value.dtype == np.float32:
            assert np.abs(c_params[name] - value).max() <= 1e-5 * max(np.abs(value).max(), 1e-30), name
        else:
            assert np.abs(c_params[name].astype(np.int64) - value.astype(np.int64)).max() <= 1, name


def test_target_of_the_wrong_size_is_refused(autoencoder, tmp_path):
    _, pairs = autoencoder
    _project(autoencoder, tmp_path)
    with HostProgram(tmp_path).session() as s:
        with pytest.raises(TinyTrainError, match="MSE target must be 40 finite float32 values"):
            s.train(pairs[0][0], pairs[0][1][:39])
        with pytest.raises(TinyTrainError, match="MSE target must be 40 finite"):
            s.train(pairs[0][0], np.full(40, np.nan, np.float32))
        assert np.isfinite(s.train(*pairs[0]))  # the refused requests never reached the program


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_qemu_mse_training_equals_host(autoencoder, tmp_path):
    _, pairs = autoencoder
    _project(autoencoder, tmp_path)

    def drive(session):
        losses = [session.train(x, t) for x, t in pairs[:STEPS]]
        return losses, session.predict(pairs[STEPS][0])

    with HostProgram(tmp_path).session() as h:
        h_losses, h_out = drive(h)
    with QemuProgram(tmp_path, "cortex-m7").session(timeout=120) as s:
        losses, out = drive(s)
        train_instructions = s.counts[0]
    assert losses == h_losses and all(np.isfinite(losses))
    np.testing.assert_array_equal(out, h_out)
    for name, value in h.final_params.items():
        np.testing.assert_array_equal(s.final_params[name], value, err_msg=name)
    assert s.error == 0
    print(f"\nMSE autoencoder 40-16-4-16-40 on cortex-m7: {train_instructions} instructions per training step")
