"""benchmarks.run.rss_launcher: the RSS-measuring launcher is built into and run from the private
per-user cache, never from a predictable path in the shared temp folder another user could
have planted a program at."""
import hashlib
import os
import subprocess
import tempfile

import pytest

from benchmarks.run import LAUNCHER_C, rss_launcher
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.user_cache import ENV_VAR


@pytest.fixture
def shared(tmp_path, monkeypatch):
    folder = tmp_path / "shared_tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return folder


def test_a_planted_launcher_is_never_run(shared, tmp_path):
    marker = tmp_path / "planted_ran"
    planted = shared / f"tinytrain_rss_launcher_{hashlib.sha1(LAUNCHER_C.encode()).hexdigest()[:10]}"
    planted.write_text(f"#!/bin/sh\ntouch {marker}\n")  # where the launcher used to be cached
    os.chmod(planted, 0o755)
    launcher = rss_launcher()
    result = subprocess.run([str(launcher), "true"], capture_output=True, text=True)
    assert not marker.exists(), "a program from the shared temp folder was run"
    assert result.returncode == 0 and result.stderr.startswith("TT_MAXRSS_KB ")
    assert launcher.parent == tmp_path / "cache" / "build"
    assert rss_launcher() == launcher  # cached


def test_a_launcher_others_could_have_replaced_is_refused(shared):
    launcher = rss_launcher()
    os.chmod(launcher, 0o777)
    with pytest.raises(TinyTrainError, match=rf"cached file {launcher} is writable by other users"):
        rss_launcher()
