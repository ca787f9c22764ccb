"""A private per-user cache: what the toolchain builds once and later loads or runs.

A predictable path in the shared temp folder lets another local user plant a library or a
program there first; a folder only we can write, checked before every use, cannot be.

    private_dir("build")  ->  $TVM_TINYTRAIN_CACHE/build, else $XDG_CACHE_HOME/tvm-tinytrain/build,
                              else ~/.cache/tvm-tinytrain/build   (created 0700)
    with building(path) as tmp: ...     # write tmp (same folder); it becomes `path` atomically
    checked_file(path)                  # before loading or running a cached file

Anything not ours or writable by others is refused with a TinyTrainError naming the path,
what is wrong and the fix; it is never used, repaired or removed silently.
"""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import TinyTrainError

ENV_VAR = "TVM_TINYTRAIN_CACHE"
FIX = f"set {ENV_VAR} to a private folder of yours"


def cache_root() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"  # XDG: relative = unset
    return base / "tvm-tinytrain"


def private_dir(name: str) -> Path:
    """The cache's subfolder `name`, created 0700 if missing; the root and it are checked."""
    root = cache_root()
    folder = root / name
    for path in (root, folder):
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            pass  # a file or a dangling symlink: _check names it
        except OSError as err:
            raise TinyTrainError(f"cache folder {path}: cannot create it ({err.strerror}); {FIX}") from None
        _check(path, folder=True)
    return folder


def checked_file(path: Path) -> Path:
    """`path`, a regular file of the current user that nobody else can write, else the error."""
    _check(Path(path), folder=False)
    return Path(path)


@contextmanager
def building(path: Path):
    """A temporary path beside `path` (in its private folder) to write; on success it is made
    private (no group/other permissions) and renamed onto `path`, on failure removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, stat.S_IMODE(os.stat(tmp).st_mode) & 0o700)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check(path: Path, folder: bool):
    what = "cache folder" if folder else "cached file"
    try:
        st = os.lstat(path)
    except OSError as err:
        raise TinyTrainError(f"{what} {path}: cannot read it ({err.strerror}); {FIX}") from None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif folder and not stat.S_ISDIR(st.st_mode):
        problem = "is not a folder"
    elif not folder and not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif st.st_uid != os.getuid():
        problem = f"belongs to another user (uid {st.st_uid}, you are {os.getuid()})"
    elif st.st_mode & 0o022:
        mode = stat.S_IMODE(st.st_mode)
        raise TinyTrainError(f"{what} {path} is writable by other users (mode {mode:04o}): it is not used, since "
                             f"another user could have planted its contents; run chmod go-w {path}, or {FIX}")
    else:
        return
    raise TinyTrainError(f"{what} {path} {problem}: it is not used, since another user could have planted "
                         f"its contents; remove it, or {FIX}")
