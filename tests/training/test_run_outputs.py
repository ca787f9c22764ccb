"""Output safety (tvm_tinytrain/outputs.py, write_project, train's --out): a folder or file that
cannot be written is refused before any work, a lock keeps two commands out of one output, and
no file the toolchain did not write is ever replaced. Tests run as root, where chmod does not
stop writes, so read-only places are simulated (a path under a file, or a failing trial write)."""
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tvm_tinytrain import outputs
from tvm_tinytrain.cli import main
from tvm_tinytrain.codegen.emit import Project, write_project
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.outputs import (LOCK_NAME, MANIFEST, atomic_write, check_out_file, check_out_folder, output_lock,
                                   write_owned)
from tvm_tinytrain.training.run import train

PROJECT = Project({"model.c": "/* generated */\n", "model.h": "/* h */\n", "memory.json": "{}"}, {})


def tree(folder: Path) -> dict:
    """{relative path: bytes or 'dir'} of everything under `folder`."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[str((Path(root) / d).relative_to(folder))] = "dir"
        for f in files:
            out[str((Path(root) / f).relative_to(folder))] = (Path(root) / f).read_bytes()
    return out


# -- where a command may write ---------------------------------------------------------------------
def test_out_folder_checks_create_nothing(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(TinyTrainError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "f")
    with pytest.raises(TinyTrainError, match="is a file, so no folder can be made under it"):
        check_out_folder(tmp_path / "f" / "a" / "b")
    assert check_out_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert tree(tmp_path) == {"f": b"mine"}


def test_an_unwritable_folder_is_found_by_a_real_trial_write(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", read_only)
    with pytest.raises(TinyTrainError, match="cannot write there.*Read-only file system"):
        check_out_folder(tmp_path / "sub")


def test_an_unwritable_folder_is_found_by_access(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    with pytest.raises(TinyTrainError, match="permission denied"):
        check_out_folder(tmp_path)


def test_out_file_checks(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("mine")
    with pytest.raises(TinyTrainError, match="is a folder"):
        check_out_file(tmp_path / "d")
    with pytest.raises(TinyTrainError, match="exists; choose another --out or pass --force"):
        check_out_file(tmp_path / "f")
    with pytest.raises(TinyTrainError, match="is a file, so no folder can be made|is a file, not a folder"):
        check_out_file(tmp_path / "f" / "x.json")
    assert check_out_file(tmp_path / "f", force=True) == tmp_path / "f"


# -- locks -----------------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from tvm_tinytrain.outputs import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold_lock(folder: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_command_on_a_locked_output_is_refused(tmp_path):
    holder = hold_lock(tmp_path, 60)
    try:
        with pytest.raises(TinyTrainError, match=rf"in use by another tvm-tinytrain command \(pid {holder.pid}\)"):
            with output_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(tmp_path):  # a dead process's lock (its file is still there) does not block
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_nests_in_one_process_and_removes_what_it_made(tmp_path):
    folder = tmp_path / "a" / "b"
    with output_lock(folder):
        with output_lock(folder):
            assert (folder / LOCK_NAME).exists()
        assert (folder / LOCK_NAME).exists()
    assert tree(tmp_path) == {}  # both folders it made were empty again
    with output_lock(folder):
        (folder / "kept").write_text("x")
    assert tree(tmp_path) == {"a": "dir", "a/b": "dir", "a/b/kept": b"x"}


def test_train_and_compile_refuse_an_output_in_use(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    holder = hold_lock(tmp_path / "out", 60)
    try:
        with pytest.raises(TinyTrainError, match="in use by another"):
            train("mcunet-5fps", "bias-only", "cifar10:classes=0,1", 1, tmp_path / "out", progress=False,
                  log=lambda *a: None)
        assert main(["compile", "mcunet-5fps", "--scheme", "bias-only", "--out", "out", "--force"]) == 2
        assert "in use by another" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


# -- atomic writes and ownership -------------------------------------------------------------------
def test_atomic_write_leaves_no_temporary(tmp_path):
    atomic_write(tmp_path / "r.json", "old")
    atomic_write(tmp_path / "r.json", b"new")
    assert tree(tmp_path) == {"r.json": b"new"}


def test_write_owned_replaces_only_its_own_files(tmp_path):
    write_owned(tmp_path, {"a.txt": b"1", "sub/b.txt": b"2"}, "test")
    write_owned(tmp_path, {"a.txt": b"3", "sub/b.txt": b"4"}, "test")  # ours: replaced
    assert (tmp_path / "a.txt").read_bytes() == b"3" and (tmp_path / "sub/b.txt").read_bytes() == b"4"
    (tmp_path / "a.txt").write_bytes(b"edited by the user")
    (tmp_path / "c.txt").write_bytes(b"the user's")
    before = tree(tmp_path)
    for files in ({"a.txt": b"5"}, {"c.txt": b"5"}, {"sub/b.txt": b"5", "c.txt": b"5"}):
        with pytest.raises(TinyTrainError, match="did not write"):
            write_owned(tmp_path, files, "test")
        assert tree(tmp_path) == before


# -- write_project ---------------------------------------------------------------------------------
def test_write_project_never_replaces_a_users_file_even_with_force(tmp_path):
    # At c884120 --force overwrote any model.c in the folder.
    (tmp_path / "model.c").write_text("my own model.c")
    with pytest.raises(TinyTrainError, match="model.c is a file tvm-tinytrain did not write"):
        write_project(PROJECT, tmp_path, force=True)
    assert tree(tmp_path) == {"model.c": b"my own model.c"}


@pytest.mark.parametrize("blocker", ["model.c", "kernels/tt_kernels.h", "Makefile"])
def test_write_project_checks_every_target_before_writing_anything(tmp_path, blocker):
    # At c884120 model.h, memory.json, ... were written before a folder named like a file failed.
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / blocker).mkdir(parents=True)
    before = tree(tmp_path)
    with pytest.raises(TinyTrainError, match=f"{blocker} is a folder"):
        write_project(PROJECT, tmp_path, force=True)
    assert tree(tmp_path) == before


def test_write_project_refuses_a_file_where_its_kernels_folder_goes(tmp_path):
    (tmp_path / "kernels").write_text("a file")
    with pytest.raises(TinyTrainError, match="kernels is a file where tvm-tinytrain writes a folder"):
        write_project(PROJECT, tmp_path, force=True)
    assert tree(tmp_path) == {"kernels": b"a file"}


def test_write_project_again_with_force_and_a_users_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TinyTrainError, match="--force"):
        write_project(PROJECT, tmp_path)
    write_project(PROJECT, tmp_path, force=True)
    write_project(Project({**PROJECT.files, "model.c": "/* v2 */\n"}, {}), tmp_path, force=True)
    assert (tmp_path / "model.c").read_text() == "/* v2 */\n" and (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / MANIFEST).exists() and not [p for p in tree(tmp_path) if p.endswith((".tmp", ".lock"))]


# -- train's --out ---------------------------------------------------------------------------------
@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if a run gets as far as loading its data."""
    import tvm_tinytrain.data.datasets as datasets

    def load_dataset(*args, **kwargs):
        raise AssertionError("the data was loaded before the refusal")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def test_train_refuses_a_project_folder_holding_a_users_files(tmp_path, no_data):
    # At c884120 train --out DIR overwrote the user's DIR/project/model.c (after the whole run).
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "model.c").write_text("my own model.c")
    with pytest.raises(TinyTrainError, match="project holds files tvm-tinytrain did not write"):
        train("mcunet-5fps", "bias-only", "cifar10:classes=0,1", 1, tmp_path, force=True, progress=False)
    assert tree(tmp_path) == {"project": "dir", "project/model.c": b"my own model.c"}


def test_train_refuses_results_it_did_not_write_even_with_force(tmp_path, no_data):
    (tmp_path / "history.json").write_text('{"mine": 1}')
    with pytest.raises(TinyTrainError, match="--force"):
        train("mcunet-5fps", "bias-only", "cifar10:classes=0,1", 1, tmp_path, progress=False)
    with pytest.raises(TinyTrainError, match="history.json is a file tvm-tinytrain did not write"):
        train("mcunet-5fps", "bias-only", "cifar10:classes=0,1", 1, tmp_path, force=True, progress=False)
    assert tree(tmp_path) == {"history.json": b'{"mine": 1}'}


@pytest.mark.parametrize("setting, message", [
    (dict(epochs=0), "--epochs 0"), (dict(epochs=-2), "--epochs -2"), (dict(train_per_class=0), "--train-per-class 0"),
    (dict(test_per_class=-1), "--test-per-class -1"), (dict(warmup_epochs=-0.5), "--warmup-epochs -0.5"),
    (dict(warmup_epochs=float("nan")), "--warmup-epochs nan"), (dict(lr_weight=0.0), "--lr-weight 0.0"),
    (dict(lr_bias=float("nan")), "--lr-bias nan"), (dict(lr_weight=float("inf")), "--lr-weight inf"),
    (dict(lr_bias=-0.1), "--lr-bias -0.1"), (dict(engine="fp32", target="cortex-m7"), "fp32 engine"),
])
def test_train_settings_no_run_can_use_are_refused_first(tmp_path, no_data, setting, message):
    kwargs = {"epochs": 1, "progress": False, **setting}
    epochs = kwargs.pop("epochs")
    with pytest.raises(TinyTrainError, match=message.replace("+", r"\+")):
        train("mcunet-5fps", "bias-only", "cifar10:classes=0,1", epochs, tmp_path / "out", **kwargs)
    assert tree(tmp_path) == {}


def test_search_refuses_an_unwritable_out_before_searching(tmp_path, monkeypatch, capsys):
    import tvm_tinytrain.search.budget_search as budget_search

    monkeypatch.setattr(budget_search, "search", lambda *a, **k: pytest.fail("searched"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("mine")
    assert main(["search", "mcunet-5fps", "--contrib", "missing.json", "--budget", "100KB",
                 "--out", "f/scheme.json"]) == 2
    assert "f is a file" in capsys.readouterr().err
    assert tree(tmp_path) == {"f": b"mine"}  # exact: no lock or temporary left


def test_results_get_the_permissions_of_an_ordinary_new_file(tmp_path):
    """Written through a temporary file, a result is still readable as the umask allows (not 0600)."""
    from tvm_tinytrain.outputs import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "history.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "history.json").stat().st_mode & 0o777 == 0o644
