"""Bad output places and settings no run can use: every command refuses them in one line before
any work is done, and every file already there stays byte for byte (the harness checks it).

Read-only places are real even as root: /proc takes no new files. A folder in use is one whose
lock another open file description holds (as another command would)."""
import fcntl
import os

import pytest

from bad_input_harness import Case, run_bad
from tvm_tinytrain.outputs import LOCK_NAME

TRAIN = ["train", "mcunet-5fps", "--scheme", "bias-only", "--data", "cifar10:classes=0,1"]
COMPILE = ["compile", "mcunet-5fps", "--scheme", "bias-only"]
SEARCH = ["search", "mcunet-5fps", "--contrib", "contrib.json", "--budget", "100KB"]
ANALYZE = ["analyze", "mcunet-5fps", "--data", "cifar10:classes=0,1"]
PKL = "/work/shared/datasets/weights/tiny-training-pkl/mcunet-5fps.pkl"
READ_ONLY = "/proc/tvm-tinytrain-out"

_HELD = []  # lock descriptors a case holds, released after it


@pytest.fixture(autouse=True)
def release_locks():
    yield
    while _HELD:
        os.close(_HELD.pop())


def write(path, data="mine"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def file_at(name, data="mine"):
    return lambda f: write(f / name, data)


def folder_at(*names):
    def setup(f):
        for name in names:
            (f / name).mkdir(parents=True)
    return setup


def locked(folder, lock=LOCK_NAME, then=None):
    """Another command holds `folder`'s lock."""
    def setup(f):
        (f / folder).mkdir(parents=True, exist_ok=True)
        fd = os.open(f / folder / lock, os.O_RDWR | os.O_CREAT)
        os.write(fd, b"4242\n")
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD.append(fd)
        if then:
            then(f)
    return setup


def both(*setups):
    def setup(f):
        for s in setups:
            s(f)
    return setup


def symlink_to_file(f):
    write(f / "target")
    (f / "link").symlink_to(f / "target")


CASES = [
    # train --out: the folder itself
    Case("train-out-is-a-file", [*TRAIN, "--epochs", "1", "--out", "out"], ("out", "is a file, not a folder"),
         setup=file_at("out")),
    Case("train-out-is-a-link-to-a-file", [*TRAIN, "--epochs", "1", "--out", "link"], ("link", "is a file"),
         setup=symlink_to_file),
    Case("train-out-under-a-file", [*TRAIN, "--epochs", "1", "--out", "notes.txt/run"],
         ("notes.txt is a file", "no folder can be made"), setup=file_at("notes.txt")),
    Case("train-out-deep-under-a-file", [*TRAIN, "--epochs", "1", "--out", "a/notes.txt/b/c"],
         ("notes.txt is a file",), setup=file_at("a/notes.txt")),
    Case("train-out-read-only", [*TRAIN, "--epochs", "1", "--out", READ_ONLY], ("cannot write there",)),
    Case("train-out-in-use", [*TRAIN, "--epochs", "1", "--out", "run"], ("run", "in use by another", "4242"),
         setup=locked("run")),
    # train --out: what is in it
    Case("train-project-holds-users-model-c", [*TRAIN, "--epochs", "1", "--out", "run", "--force"],
         ("project", "did not write", "model.c"), setup=file_at("run/project/model.c", "int my_model;")),
    Case("train-project-holds-users-other-file", [*TRAIN, "--epochs", "1", "--out", "run"],
         ("project", "did not write", "host_runner"), setup=file_at("run/project/host_runner", b"\x7fELF")),
    Case("train-project-is-a-file", [*TRAIN, "--epochs", "1", "--out", "run"], ("project", "is a file"),
         setup=file_at("run/project")),
    Case("train-earlier-outputs-without-force", [*TRAIN, "--epochs", "1", "--out", "run"],
         ("checkpoint.npz", "--force"), setup=file_at("run/checkpoint.npz", b"PK\x03\x04")),
    Case("train-users-history-with-force", [*TRAIN, "--epochs", "1", "--out", "run", "--force"],
         ("history.json", "did not write"), setup=file_at("run/history.json", '{"my": "notes"}')),
    Case("train-users-png-with-force", [*TRAIN, "--epochs", "1", "--out", "run", "--force"],
         ("loss.png", "did not write"), setup=file_at("run/loss.png", b"\x89PNG mine")),
    Case("train-history-is-a-folder-with-force", [*TRAIN, "--epochs", "1", "--out", "run", "--force"],
         ("history.json", "a folder"), setup=folder_at("run/history.json")),
    # train settings no run can use
    Case("train-epochs-0", [*TRAIN, "--epochs", "0"], ("--epochs 0", "at least 1")),
    Case("train-epochs-negative", [*TRAIN, "--epochs", "-3"], ("--epochs -3",)),
    Case("train-per-class-0", [*TRAIN, "--epochs", "1", "--train-per-class", "0"], ("--train-per-class 0",)),
    Case("test-per-class-negative", [*TRAIN, "--epochs", "1", "--test-per-class=-2"], ("--test-per-class -2",)),
    Case("train-warmup-negative", [*TRAIN, "--epochs", "1", "--warmup-epochs=-1"], ("--warmup-epochs -1",)),
    Case("train-warmup-nan", [*TRAIN, "--epochs", "1", "--warmup-epochs", "nan"], ("--warmup-epochs nan",)),
    Case("train-lr-weight-0", [*TRAIN, "--epochs", "1", "--lr-weight", "0"], ("--lr-weight 0", "> 0")),
    Case("train-lr-bias-negative", [*TRAIN, "--epochs", "1", "--lr-bias=-0.01"], ("--lr-bias -0.01",)),
    Case("train-lr-weight-nan", [*TRAIN, "--epochs", "1", "--lr-weight", "nan"], ("--lr-weight nan", "finite")),
    Case("train-lr-bias-inf", [*TRAIN, "--epochs", "1", "--lr-bias", "inf"], ("--lr-bias inf", "finite")),
    Case("train-fp32-engine-on-a-board", [*TRAIN, "--epochs", "1", "--engine", "fp32", "--target", "cortex-m7"],
         ("fp32 engine", "host only")),
    # compile --out
    Case("compile-out-is-a-file", [*COMPILE, "--out", "out"], ("out", "is a file"), setup=file_at("out")),
    Case("compile-out-under-a-file", [*COMPILE, "--out", "out/c"], ("out is a file",), setup=file_at("out")),
    Case("compile-out-read-only", [*COMPILE, "--out", READ_ONLY], ("cannot write there",)),
    Case("compile-out-not-empty", [*COMPILE, "--out", "build"], ("not empty", "notes.txt", "--force"),
         setup=file_at("build/notes.txt")),
    Case("compile-force-users-model-c", [*COMPILE, "--out", "build", "--force"], ("model.c", "did not write"),
         setup=file_at("build/model.c", "int mine;")),
    Case("compile-force-users-makefile", [*COMPILE, "--out", "build", "--force"], ("Makefile", "did not write"),
         setup=file_at("build/Makefile", "all:\n\techo mine\n")),
    Case("compile-force-users-kernel-header", [*COMPILE, "--out", "build", "--force"],
         ("tt_kernels.h", "did not write"), setup=file_at("build/kernels/tt_kernels.h", "/* mine */")),
    Case("compile-force-model-c-is-a-folder", [*COMPILE, "--out", "build", "--force"], ("model.c", "a folder"),
         setup=both(file_at("build/notes.txt"), folder_at("build/model.c"))),
    Case("compile-force-memory-json-is-a-folder", [*COMPILE, "--out", "build", "--force"],
         ("memory.json", "a folder"), setup=folder_at("build/memory.json")),
    Case("compile-force-kernels-is-a-file", [*COMPILE, "--out", "build", "--force"],
         ("kernels", "is a file where tvm-tinytrain writes a folder"), setup=file_at("build/kernels")),
    Case("compile-out-in-use", [*COMPILE, "--out", "build", "--force"], ("build", "in use by another"),
         setup=locked("build")),
    # convert-weights --out
    Case("convert-out-is-a-file", ["convert-weights", PKL, "--out", "out"], ("out", "is a file"),
         setup=file_at("out")),
    Case("convert-out-under-a-file", ["convert-weights", PKL, "--out", "out/w"], ("out is a file",),
         setup=file_at("out")),
    Case("convert-out-read-only", ["convert-weights", PKL, "--out", READ_ONLY], ("cannot write there",)),
    Case("convert-onto-existing-outputs", ["convert-weights", PKL, "--out", "w"],
         ("mcunet-5fps.npz", "already exists", "--force"), setup=file_at("w/mcunet-5fps.npz", b"mine")),
    Case("convert-out-in-use", ["convert-weights", PKL, "--out", "w"], ("w", "in use by another"),
         setup=locked("w")),
    # analyze --out (a results file, resumed if it exists)
    Case("analyze-out-is-a-folder", [*ANALYZE, "--out", "results"], ("results", "is a folder"),
         setup=folder_at("results")),
    Case("analyze-out-under-a-file", [*ANALYZE, "--out", "notes.txt/r.json"], ("notes.txt is a file",),
         setup=file_at("notes.txt")),
    Case("analyze-out-read-only", [*ANALYZE, "--out", f"{READ_ONLY}/r.json"], ("cannot write there",)),
    Case("analyze-out-in-use", [*ANALYZE, "--out", "r.json"], ("in use by another",),
         setup=locked(".", lock=".r.json.lock")),
    # search --out (a scheme file): refused before the search runs
    Case("search-out-under-a-file", [*SEARCH, "--out", "notes.txt/s.json"], ("notes.txt is a file",),
         setup=file_at("notes.txt")),
    Case("search-out-read-only", [*SEARCH, "--out", f"{READ_ONLY}/s.json"], ("cannot write there",)),
    Case("search-out-is-a-folder", [*SEARCH, "--out", "schemes"], ("schemes", "is a folder"),
         setup=folder_at("schemes")),
    Case("search-out-exists", [*SEARCH, "--out", "s.json"], ("s.json", "exists", "--force"),
         setup=file_at("s.json", '{"name": "mine"}')),
    Case("search-out-in-use", [*SEARCH, "--out", "s.json"], ("in use by another",),
         setup=locked(".", lock=".s.json.lock")),
    # plan --dump
    Case("plan-dump-is-a-file", ["plan", "mcunet-5fps", "--scheme", "bias-only", "--dump", "d"], ("d", "is a file"),
         setup=file_at("d")),
    Case("plan-dump-under-a-file", ["plan", "mcunet-5fps", "--scheme", "bias-only", "--dump", "d/x"],
         ("d is a file",), setup=file_at("d")),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
