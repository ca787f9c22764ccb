"""A training run killed (SIGKILL) at any point of writing its results leaves a folder that
`--init` loads as the previous or the new state, never a torn one, and that the next run into
it takes over (no stale lock or temporary in its way, none taken for a result).

The writing part of train() (claim_out + write_results) runs in a subprocess that kills itself
at its Nth filesystem operation, for every N, starting from a folder holding a previous
complete set; no real training is needed."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tvm_tinytrain.outputs import digest
from tvm_tinytrain.training.checkpoint import load_checkpoint
from tvm_tinytrain.training.run import OUTPUTS, claim_out, write_results

WRITTEN = tuple(name for name in OUTPUTS if name != "lr_range.png")  # a run without --lr auto

WRITER = textwrap.dedent("""
    import builtins, io, os, signal, sys
    import numpy as np
    from tvm_tinytrain.training.run import claim_out, write_results

    out, kill_at, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    count = 0

    def counted(fn, writes=lambda *a, **k: True):
        def op(*args, **kwargs):
            global count
            if writes(*args, **kwargs):
                if count == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                count += 1
            return fn(*args, **kwargs)
        return op

    def write_mode(file, mode="r", *a, **k):
        return any(c in mode for c in "wax+")

    def write_flags(path, flags, *a, **k):
        return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))

    for name in ("replace", "rename", "unlink", "remove", "rmdir", "mkdir", "fsync", "ftruncate", "write"):
        setattr(os, name, counted(getattr(os, name)))
    os.open = counted(os.open, write_flags)
    builtins.open = io.open = counted(io.open, write_mode)
    params = {"stem.bias": np.full(4, version, np.int32), "head.weight": np.full((2, 3), version, np.int8)}
    meta = {"model": "m", "scheme": f"v{version}"}
    with claim_out(out, force=True):
        write_results(out, params, meta, {**meta, "history": {"losses": [float(version)]}},
                      f"png {version}".encode())
    print(count)
""")


def write(out: Path, version: int, kill_at: int = 10**9) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WRITER, str(out), str(kill_at), str(version)], capture_output=True,
                          text=True, timeout=60)


def state(out: Path) -> tuple:
    """Which run (1 or 2) each of checkpoint, history and loss.png comes from, as --init and a
    reader see them; fails if any is torn."""
    params, meta = load_checkpoint(out / "checkpoint.npz")  # what train --init reads
    version = int(params["stem.bias"][0])
    assert all((v == version).all() for v in params.values()) and meta["scheme"] == f"v{version}"
    history = json.loads((out / "history.json").read_text())
    png = (out / "loss.png").read_bytes()
    return version, int(history["history"]["losses"][0]), int(png.split()[1]), history


def test_a_kill_at_any_write_leaves_the_old_or_the_new_set(tmp_path):
    start = tmp_path / "start"
    assert write(start, 1).returncode == 0
    shutil.copytree(start, tmp_path / "count")
    total = int(write(tmp_path / "count", 2).stdout)  # filesystem operations of a whole write
    assert total > 20
    seen = set()
    for n in range(total):
        out = tmp_path / f"kill{n}"
        shutil.copytree(start, out)
        killed = write(out, 2, kill_at=n)
        assert killed.returncode == -9, (n, killed.stderr[-2000:])
        ckpt, hist, png, history = state(out)
        # replaced in a fixed order: checkpoint, history, png; history names its checkpoint
        assert (ckpt, hist, png) in {(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2)}, n
        assert (history["checkpoint_sha256"] == digest((out / "checkpoint.npz").read_bytes())) == (ckpt == hist)
        seen.add((ckpt, hist, png))
        leftovers = [p.name for p in out.iterdir() if p.name not in (*OUTPUTS, ".tvm-tinytrain.json")]
        assert all(name.startswith(".") and name.endswith((".tmp", ".lock")) for name in leftovers), leftovers
        # the next run takes the folder over: the dead run's lock does not block, its temporaries go
        resumed = write(out, 3)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert state(out)[:3] == (3, 3, 3)
        assert sorted(p.name for p in out.iterdir()) == sorted([*WRITTEN, ".tvm-tinytrain.json"])
    assert seen == {(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2)}  # every stage of the swap was hit


def test_results_in_process(tmp_path):
    """write_results as train() calls it: the summary it returns is the history written."""
    params = {"b": np.arange(3, dtype=np.int32)}
    with claim_out(tmp_path, force=False):
        summary = write_results(tmp_path, params, {"model": "m"}, {"model": "m", "history": {}}, b"png")
    assert json.loads((tmp_path / "history.json").read_text()) == summary
    assert summary["checkpoint_sha256"] == digest((tmp_path / "checkpoint.npz").read_bytes())
    with pytest.raises(Exception, match="--force"):
        with claim_out(tmp_path, force=False):
            pass
    assert sorted(os.listdir(tmp_path)) == sorted([*WRITTEN, ".tvm-tinytrain.json"])
