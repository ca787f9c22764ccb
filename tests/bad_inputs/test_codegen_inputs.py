"""Bad inputs of the C code generation: programs over a board's budget, scheme files with hostile
strings, hostile private cache folders.  Each a clear error, nothing of the user's changed, and
(for compile) nothing written to --out."""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bad_input_harness import Case, run_bad, snapshot
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.user_cache import ENV_VAR


@dataclass(repr=False)
class CompileCase(Case):
    absent: tuple = ()  # paths (relative to the case folder) the command must not have made


def scheme(fields, name="s.json"):
    def setup(folder):
        (folder / name).write_text(json.dumps(fields))
    return setup


def previous_project(folder):
    """A project an earlier compile wrote into out/, and a user's notes beside it."""
    from tvm_tinytrain.cli import main

    assert main(["compile", "mcunet-5fps", "--scheme", "paper-100kb", "--out", str(folder / "out")]) == 0
    (folder / "out" / "notes.txt").write_text("mine")


def no_arm_toolchain(folder):
    """A PATH with the host tools but no arm-none-eabi-*."""
    bin_ = folder / "bin"
    bin_.mkdir()
    for tool in ("gcc", "cc", "nm", "make"):
        for where in os.environ["PATH"].split(os.pathsep):
            if (Path(where) / tool).exists():
                (bin_ / tool).symlink_to(Path(where) / tool)
                break
    return str(bin_)


def compile_(target, scheme_="bias-only", model="mcunet-5fps", *extra):
    return ["compile", model, "--scheme", scheme_, "--target", target, "--out", "out", *extra]


def over_budget(board, ram):
    return (f"does not fit board {board}", "SRAM is", "bytes short", f"of the {ram} budget", "largest part",
            "activation arena", "Nothing was written to out")


HOSTILE_NAME = "x */ int injected = 1; /*\n\\\"??/"
slow = pytest.mark.slow

CASES = [
    CompileCase("budget-m4", compile_("cortex-m4"), over_budget("cortex-m4", "256K"), absent=("out",)),
    CompileCase("budget-m4-force-over-a-previous-project", compile_("cortex-m4", "bias-only", "mcunet-5fps", "--force"),
                over_budget("cortex-m4", "256K"), setup=previous_project),
    pytest.param(CompileCase("budget-m7", compile_("cortex-m7"), over_budget("cortex-m7", "320K"), absent=("out",)),
                 marks=slow),
    pytest.param(CompileCase("budget-m55", compile_("cortex-m55"), over_budget("cortex-m55", "512K"),
                             absent=("out",)), marks=slow),
    pytest.param(CompileCase("budget-m4-mbv2-full", compile_("cortex-m4", "full", "mbv2-w0.35"),
                             over_budget("cortex-m4", "256K"), absent=("out",)), marks=slow),
    pytest.param(CompileCase("budget-m7-hostile-scheme-name", compile_("cortex-m7", "s.json"),
                             over_budget("cortex-m7", "320K"),
                             setup=scheme({"name": HOSTILE_NAME, "n_bias_update": "all"}), absent=("out",)), marks=slow),
    CompileCase("no-arm-toolchain-m7", compile_("cortex-m7"),
                ("--target cortex-m7", "arm-none-eabi-gcc", "not found", "1M flash and 320K SRAM", "--target host"),
                env={"PATH": no_arm_toolchain}, absent=("out",)),
    CompileCase("no-arm-toolchain-m55-force", compile_("cortex-m55", "bias-only", "mcunet-5fps", "--force"),
                ("--target cortex-m55", "arm-none-eabi-gcc", "not found"), env={"PATH": no_arm_toolchain},
                setup=lambda f: (f / "out").mkdir() or (f / "out" / "notes.txt").write_text("mine"),
                absent=("out/model.c",)),
    CompileCase("scheme-hostile-model-field", compile_("host", "s.json"), ("s.json", "model"),
                setup=scheme({"model": HOSTILE_NAME}), absent=("out",)),
    CompileCase("scheme-hostile-weight-layer-name", compile_("host", "s.json"), ("s.json", "model/conv2d/Conv2D:0"),
                setup=scheme({"weight_layers": ["model/conv2d/Conv2D:0 */ int injected; /*"]}), absent=("out",)),
    CompileCase("scheme-hostile-bias-layer-name", compile_("host", "s.json"), ("s.json", "bias_layers"),
                setup=scheme({"bias_layers": ["a\nb */"]}), absent=("out",)),
    CompileCase("scheme-name-a-list", compile_("host", "s.json"), ("s.json", "name must be a string"),
                setup=scheme({"name": ["*/ int injected; /*"]}), absent=("out",)),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
    for path in case.absent:
        assert not (tmp_path / path).exists(), f"{case.id}: {path} was written"


# ------------------------------------------------------------------------- the private cache
def probe(folder) -> Path:
    src = folder / "probe.c"
    src.write_text("int tt_probe(void) { return 7; }\n")
    return src


def build_probe(folder) -> Path:
    """The probe library built once into the private cache; its path."""
    from tvm_tinytrain.codegen.host_build import shared_library

    assert shared_library("probe", [probe(folder)]).tt_probe() == 7
    (cached,) = (folder / "cache" / "build").glob("probe_*.so")
    return cached


def chmod(rel, mode, build=False):
    def setup(folder):
        if build:
            build_probe(folder)
        (folder / "cache" / "build").mkdir(parents=True, exist_ok=True)
        target = folder / "cache" / rel if rel else folder / "cache"
        if rel == "*.so":
            (target,) = (folder / "cache" / "build").glob("probe_*.so")
        os.chmod(target, mode)
    return setup


def symlinked(which):
    def setup(folder):
        real = folder / "real"
        (real / "build").mkdir(parents=True, mode=0o700)
        if which == "root":
            (folder / "cache").symlink_to(real)
        else:
            (folder / "cache").mkdir(mode=0o700)
            (folder / "cache" / "build").symlink_to(real / "build")
    return setup


def a_file(rel):
    def setup(folder):
        (folder / "cache").mkdir(mode=0o700, exist_ok=True)
        (folder / "cache" / rel).write_text("not a folder")
    return setup


def library_symlink(folder):
    cached = build_probe(folder)
    cached.rename(folder / "elsewhere.so")
    cached.symlink_to(folder / "elsewhere.so")


def launcher(folder):
    from benchmarks.run import rss_launcher

    return rss_launcher()


@dataclass
class CacheCase:
    id: str
    setup: object
    expect: tuple
    action: object = None
    other_uid: bool = False  # after the setup, the cache's files belong to another user (as seen from us)

    def __repr__(self):
        return self.id


CACHE = "cache folder {f}/cache"
CACHE_CASES = [
    CacheCase("root-world-writable", chmod("", 0o777), (CACHE, "writable by other users (mode 0777)", "chmod go-w")),
    CacheCase("root-group-writable", chmod("", 0o770), (CACHE, "writable by other users (mode 0770)")),
    CacheCase("build-world-writable", chmod("build", 0o703), (CACHE + "/build", "writable by other users (mode 0703)")),
    CacheCase("root-symlink", symlinked("root"), (CACHE, "is a symbolic link", ENV_VAR)),
    CacheCase("build-symlink", symlinked("build"), (CACHE + "/build", "is a symbolic link")),
    CacheCase("root-is-a-file", lambda f: (f / "cache").write_text("x"), (CACHE, "is not a folder")),
    CacheCase("build-is-a-file", a_file("build"), (CACHE + "/build", "is not a folder")),
    CacheCase("under-a-file", lambda f: (f / "cache").write_text("x"), (CACHE + "/sub", "cannot create it"),
              action="sub"),
    CacheCase("library-world-writable", chmod("*.so", 0o666, build=True),
              ("cached file {f}/cache/build/probe_", "writable by other users (mode 0666)")),
    CacheCase("library-symlink", library_symlink, ("cached file {f}/cache/build/probe_", "is a symbolic link")),
    CacheCase("another-users-cache", build_probe, (CACHE, "belongs to another user"), other_uid=True),
    CacheCase("rss-launcher-in-a-shared-cache", chmod("", 0o777), (CACHE, "writable by other users"), action=launcher),
]


@pytest.mark.parametrize("case", CACHE_CASES, ids=repr)
def test_hostile_cache_folder(case, tmp_path, monkeypatch):
    """What uses the private cache (the host kernel library, the benchmarks' launcher) refuses a
    cache another user could have written: one clear line, nothing there changed or used."""
    from tvm_tinytrain.codegen.host_build import shared_library

    monkeypatch.setenv(ENV_VAR, str(tmp_path / ("cache/sub" if case.action == "sub" else "cache")))
    probe(tmp_path)
    case.setup(tmp_path)
    if case.other_uid:
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)
    before = snapshot(tmp_path)
    with pytest.raises(TinyTrainError) as info:
        if callable(case.action):
            case.action(tmp_path)
        else:
            shared_library("probe", [tmp_path / "probe.c"])
    message = str(info.value)
    assert "\n" not in message
    for fragment in case.expect:
        assert fragment.format(f=tmp_path) in message, f"{fragment.format(f=tmp_path)!r} not in {message!r}"
    assert snapshot(tmp_path) == before
