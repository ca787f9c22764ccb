"""targets/fit.py: whether a generated project fits a board, by linking its firmware against the
board's budgets in a temporary folder (what `compile --target BOARD` asks before writing)."""
import json
import shutil
import tempfile

import pytest

from tvm_tinytrain.codegen.emit import Project
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.targets import fit
from tvm_tinytrain.targets.qemu import load_board

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs the ARM toolchain")


@pytest.fixture
def project(tiny_resnet):
    files = {name: (tiny_resnet / name).read_text() for name in ("model.c", "model.h", "memory.json")}
    return Project(files, json.loads(files["memory.json"]))


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The temp folder check_fit links in, to see that it leaves nothing there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return folder


def test_a_program_that_fits(project, scratch):
    sizes = fit.check_fit(project, "cortex-m4")
    assert 0 < sizes["ram_bytes"] < 256 * 1024 and 0 < sizes["flash_bytes"] < 1024 * 1024
    assert sizes["ram_bytes"] >= project.memory["arena_bytes"] + project.memory["updated_param_bytes"]
    assert (sizes["flash_budget"], sizes["ram_budget"]) == ("1M", "256K")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("region, budget, message", [
    ("ram", "8K", r"SRAM is \d+ bytes short: the program needs \d+ bytes of the 8K budget; largest part: the "
                  r"activation arena"),
    ("flash", "16K", r"flash is \d+ bytes short of the 16K budget; largest part: the initial values of the "
                     r"trained parameters \(\d+ bytes\), the rest is code"),
])
def test_over_budget_names_the_missing_bytes(project, scratch, region, budget, message):
    board = load_board("cortex-m4")
    board = {**board, region: {**board[region], "length": budget}}
    with pytest.raises(TinyTrainError, match=rf"TinyResNet \(last-1\) does not fit board cortex-m4: {message}"):
        fit.check_fit(project, board)
    assert list(scratch.iterdir()) == []


def test_without_the_toolchain_the_fit_cannot_be_checked(project, monkeypatch):
    monkeypatch.setattr(fit.shutil, "which", lambda tool: None)
    with pytest.raises(TinyTrainError, match=r"compile --target cortex-m7: arm-none-eabi-gcc, arm-none-eabi-size "
                                             r"not found.*1M flash and 320K SRAM.*--target host"):
        fit.check_fit(project, "cortex-m7")
