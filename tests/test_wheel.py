"""The wheel works outside the repository: every subpackage and data file (kernels, firmware, board
files, paper schemes) is inside it. An editable install hides a missing one: at e6a155e the wheel
lacked tvm_tinytrain.passes.gradients, and the first `compile` from it failed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tvm_tinytrain.paths import data_root

REPO = Path(__file__).resolve().parents[1]


def _run(argv, cwd, env):
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_wheel_compiles_and_trains_outside_the_checkout(tmp_path):
    src = tmp_path / "src"  # the tracked files only: no build/ left over from an earlier build
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in tracked.split("\n"):
        if name and (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp_path / "wheel")], tmp_path, env)
    site = tmp_path / "site"
    wheel = next((tmp_path / "wheel").glob("tvm_tinytrain-*.whl"))
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], tmp_path, env)
    work = tmp_path / "elsewhere"  # neither the checkout nor its ../shared: the data comes from TINYTRAIN_DATA
    work.mkdir()
    env = {**env, "PYTHONPATH": str(site), "TINYTRAIN_DATA": str(data_root())}
    where = _run([sys.executable, "-c", "import tvm_tinytrain.passes.gradients as g, tvm_tinytrain.codegen.host_build "
                  "as h; print(g.__file__); print(h.KERNEL_DIR)"], work, env)
    assert all(line.startswith(str(site)) for line in where.split()), where
    _run([sys.executable, "-m", "tvm_tinytrain.cli", "compile", "mcunet-5fps", "--scheme", "bias-only", "--out", "proj"],
         work, env)
    assert (work / "proj" / "kernels" / "tt_kernels.h").is_file()
    _run([sys.executable, "-m", "tvm_tinytrain.cli", "train", "mcunet-5fps", "--scheme", "bias-only", "--data",
          "cifar10:classes=0,1", "--epochs", "1", "--train-per-class", "2", "--test-per-class", "1", "--out", "run"],
         work, env)
    assert (work / "run" / "checkpoint.npz").is_file()
