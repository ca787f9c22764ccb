"""`tvm-tinytrain compile`: the project it writes, its Makefile per target, and its errors."""
import json
import shutil
import subprocess
import sys

import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.cli import TARGETS, main
from tvm_tinytrain.codegen.emit import TARGET_FLAGS, generate
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import load_board


def test_compile_writes_a_self_contained_project(tmp_path, capsys):
    out = tmp_path / "proj"
    assert main(["compile", "mbv2-w0.35", "--scheme", "bias-only", "--out", str(out)]) == 0
    assert "arena" in capsys.readouterr().out
    memory = json.loads((out / "memory.json").read_text())
    for key in ("arena_bytes", "updated_param_bytes", "const_bytes", "plan"):
        assert key in memory
    plan = memory["plan"]
    assert plan and {"tensor", "offset", "size"} <= set(plan[0])
    assert max(p["offset"] + p["size"] for p in plan) <= memory["arena_bytes"]
    model_c = (out / "model.c").read_text()
    assert "malloc" not in model_c and "tvm" not in model_c.lower().replace("tvm-tinytrain", "")
    assert "/* blocks.3.depthwise: conv2d_s8 */" in model_c
    assert "static const int8_t tt_p_first_conv_weight" in model_c      # frozen: flash
    assert "static int32_t tt_p_first_conv_bias" in model_c             # trained: SRAM
    # The folder builds on its own with make (host runner).
    subprocess.run(["make", "-s", "-C", str(out)], check=True, capture_output=True)
    assert (out / "host_runner").exists()


def test_compile_flags_override_the_scheme_and_check_every_stage(tmp_path, capsys):
    from tvm_tinytrain.codegen.templates import c_float
    from tvm_tinytrain.compiler import compile

    out = tmp_path / "proj"
    flags = ["--lr-weight", "0.01", "--no-qas", "--fp32-classifier", "--check"]
    assert main(["compile", "mcunet-5fps", "--scheme", "bias-only", "--out", str(out), *flags]) == 0
    expected = compile("mcunet-5fps", "bias-only", num_classes=10, lr_weight=0.01, qas=False, fp32_classifier=True)
    for name in ("model.c", "model.h", "memory.json"):  # the same program as the API's
        assert (out / name).read_text() == expected.project.files[name], name
    assert json.loads((out / "memory.json").read_text())["fp32_classifier"] is True
    assert f"static float tt_lr_weight = {c_float(0.01)};" in (out / "model.c").read_text()


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs the ARM toolchain")
@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m7-sp", "cortex-m4", "cortex-m55"])
def test_project_compiles_for_cortex_m(target, tmp_path):
    out = tmp_path / target
    assert main(["compile", "mcunet-5fps", "--scheme", "paper-100kb", "--target", target, "--out", str(out)]) == 0
    result = subprocess.run(["make", "-s", "-j2", "-C", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "libmodel.a").exists()


def test_every_target_has_flags_and_a_board():
    """The CLI's targets, the generated Makefile's flags and the board files name the same boards."""
    assert set(TARGETS) == set(TARGET_FLAGS)
    for target in TARGETS[1:]:
        assert " ".join(load_board(target)["cflags"]) == TARGET_FLAGS[target][1], target


def test_refuses_a_folder_with_user_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    argv = ["compile", "mbv2-w0.35", "--scheme", "bias-only", "--out", str(tmp_path)]
    result = subprocess.run([sys.executable, "-m", "tvm_tinytrain.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
    assert main([*argv, "--force"]) == 0
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_an_op_without_kernel_is_named_with_its_layer(monkeypatch):
    from tvm_tinytrain.codegen import emit

    graph = load_backbone("mcunet-5fps", num_classes=10)
    program = build_training(graph, resolve_scheme("bias-only", graph))
    monkeypatch.delitem(emit.CALLS, "avgpool_s8")  # the emitter's table (kernel + memory-pass templates)
    with pytest.raises(UnsupportedOpError, match="avgpool_s8.*pool"):
        generate(program)
