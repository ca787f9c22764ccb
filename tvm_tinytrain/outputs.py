"""Where commands write: checked before any work, locked while in use, replaced atomically,
and never a file the toolchain did not write.

    check_out_folder(path)        a folder we may create / write into, or TinyTrainError
    check_out_file(path)          a file we may (re)place, or TinyTrainError
    with output_lock(folder): ... one command at a time per output (fcntl.flock; a dead
                                  process's lock does not block)
    atomic_write(path, data)      temp in the same folder + fsync + os.replace
    check_owned(folder, names)    refuse files under `names` that a manifest does not list as ours
    write_owned(folder, {name: bytes}, order)   the files replaced in `order`, the manifest
                                  allowing old and new contents during the swap

Temporary names start with '.' and end in '.tmp', so no reader takes one for a result.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import TinyTrainError

LOCK_NAME = ".tvm-tinytrain.lock"
MANIFEST = ".tvm-tinytrain.json"
MANIFEST_FORMAT = "tvm-tinytrain outputs 1"
TEMP_PREFIX = ".tvm-tinytrain-"


def _existing_ancestor(path: Path) -> Path:
    """The deepest part of `path` that exists (refusing a file met on the way)."""
    probe = path
    while not os.path.lexists(probe):
        probe = probe.parent
    return probe


def _trial_write(folder: Path, what: str, path: Path):
    """os.access, then a real temp file (root passes access checks a read-only mount refuses)."""
    problem = None
    if not os.access(folder, os.W_OK | os.X_OK):
        problem = "permission denied"
    else:
        try:
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=folder)
            os.close(fd)
            os.unlink(name)
        except OSError as e:
            problem = e.strerror or str(e)
    if problem:
        where = "" if folder == path else f" (its folder {folder})"
        raise TinyTrainError(f"{what} {path}: cannot write there{where}: {problem}; choose a writable folder")


def check_out_folder(path, what: str = "--out") -> Path:
    """`path` is, or can become, a folder we can write into. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TinyTrainError(f"{what} {path} is a file, not a folder; choose a folder path")
    base = _existing_ancestor(path.absolute())
    if not base.is_dir():
        raise TinyTrainError(f"{what} {path}: {base} is a file, so no folder can be made under it; choose "
                             f"another path")
    _trial_write(base, what, path)
    return path


def check_out_file(path, what: str = "--out", force: bool = False) -> Path:
    """`path` names a file we can write (an existing one only with `force`). Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise TinyTrainError(f"{what} {path} is a folder; give the name of a file to write")
    if str(path).endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise TinyTrainError(f"{what} {path} is not a file name; give the name of a file to write")
    if path.exists() and not force:
        raise TinyTrainError(f"{what} {path} exists; choose another --out or pass --force to replace it")
    if path.exists() and not os.access(path, os.W_OK):
        raise TinyTrainError(f"{what} {path}: the file is not writable; choose another --out")
    check_out_folder(path.parent, what=f"{what} {path}: folder")
    return path


# -- locks -----------------------------------------------------------------------------------------
_HELD: dict[str, list] = {}  # lock path -> [fd, depth]: a process may nest its own lock


@contextlib.contextmanager
def output_lock(folder, name: str = LOCK_NAME, what: str = "--out"):
    """Hold an exclusive lock on `folder` (made if missing, and removed again if we made it and
    leave it empty). A second command on the same output is refused, not interleaved."""
    folder = Path(folder)
    made = []
    probe = folder.absolute()
    while not probe.exists():
        made.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TinyTrainError(f"{what} {folder}: cannot make the folder: {e.strerror or e}") from None
    lock = str((folder / name).resolve())
    if lock in _HELD:
        _HELD[lock][1] += 1
        try:
            yield folder
        finally:
            _HELD[lock][1] -= 1
        return
    fd = _acquire(lock, folder, what)
    _HELD[lock] = [fd, 1]
    try:
        yield folder
    finally:
        del _HELD[lock]
        with contextlib.suppress(OSError):
            os.unlink(lock)  # before unlocking: a waiter that opened it re-checks the inode
        os.close(fd)
        for path in made:  # innermost first; stops at the first folder that is not empty
            try:
                path.rmdir()
            except OSError:
                break


def _acquire(lock: str, folder: Path, what: str) -> int:
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise TinyTrainError(f"{what} {folder} is in use by another tvm-tinytrain command (pid {holder}); "
                                     f"wait for it to finish or choose another {what}") from None
            raise
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the holder removed it as we opened it: take the new one


# -- atomic writes ---------------------------------------------------------------------------------
def temp_path(path: Path) -> Path:
    """A fresh temporary name beside `path`: '.<name>.<random>.tmp', with the permissions an
    ordinary new file gets (mkstemp makes it 0600, and the rename would keep that)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def fsync_file(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(path: Path, data: bytes) -> Path:
    """`data` in a synced temporary file beside `path` (removed again on any failure)."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path, data: bytes | str):
    """Replace `path` by `data` so a reader (or a kill) sees the old file or the new one, whole."""
    path = Path(path)
    tmp = write_temp(path, data.encode() if isinstance(data, str) else data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_stale_temps(folder, names):
    """The temporaries a killed run left beside `names` (relative to `folder`), and our trial
    files and temp folders: only names this module makes ('.<name>.<8 random>.tmp',
    '.tvm-tinytrain-*.tmp')."""
    folder = Path(folder)
    for name in [*names, MANIFEST]:
        parent, base = (folder / name).parent, Path(name).name
        pattern = re.compile(rf"\.{re.escape(base)}\.[A-Za-z0-9_]{{8}}\.tmp")
        if parent.is_dir():
            for entry in parent.iterdir():
                if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                    entry.unlink(missing_ok=True)
    if folder.is_dir():
        for entry in folder.glob(f"{TEMP_PREFIX}*.tmp"):  # trial writes, write_results' folder
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() or entry.is_symlink():
                entry.unlink(missing_ok=True)


# -- ownership -------------------------------------------------------------------------------------
def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(folder: Path) -> dict:
    """{relative name: [sha256 of contents we wrote, ...]} of `folder` ({} if none)."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
            raise ValueError("not a tvm-tinytrain manifest")
        return {str(k): list(v) for k, v in data["files"].items()}
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise TinyTrainError(f"{path} is not a file tvm-tinytrain wrote ({e}); move it away or choose another "
                             f"output folder") from None


def _write_manifest(folder: Path, files: dict):
    atomic_write(Path(folder) / MANIFEST, json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1,
                                                     sort_keys=True))


def foreign_files(folder, names) -> list[str]:
    """Those of `names` (relative to `folder`) that exist but are not ours as the manifest says:
    not listed, changed since, or not a regular file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    foreign = []
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        if path.is_symlink() or not path.is_file():
            foreign.append(name)
        elif digest(path.read_bytes()) not in manifest.get(name, ()):
            foreign.append(name)
    return foreign


def check_owned(folder, names, what: str):
    """Refuse, before anything is written, if a file we would write is not ours or not writable."""
    folder = Path(folder)
    for name in names:  # a file met where a folder must go ('kernels' a file)
        for parent in Path(name).parents:
            if parent != Path(".") and (folder / parent).exists() and not (folder / parent).is_dir():
                raise TinyTrainError(f"{what}: {folder / parent} is a file where tvm-tinytrain writes a folder; "
                                     f"move it away or choose another output folder")
    foreign = foreign_files(folder, names)
    if foreign:
        first = folder / foreign[0]
        kind = ("a folder" if first.is_dir() and not first.is_symlink()
                else "a file tvm-tinytrain did not write (or one changed since)")
        more = f" (and {len(foreign) - 1} more: {', '.join(foreign[1:4])})" if len(foreign) > 1 else ""
        raise TinyTrainError(f"{what}: {first} is {kind}{more}; tvm-tinytrain never replaces "
                             f"what it did not write: move it away or choose another output folder")
    unwritable = [n for n in names if (folder / n).exists() and not os.access(folder / n, os.W_OK)]
    if unwritable:
        raise TinyTrainError(f"{what}: {folder / unwritable[0]} is not writable; fix its permissions or choose "
                             f"another output folder")


def write_owned(folder, files: dict, what: str):
    """Write `files` ({relative name: bytes}) into `folder`, in the dict's order, each atomically.

    All contents go to synced temporaries first; the manifest then accepts the old and the new
    contents, the files are replaced in order, and the manifest keeps only the new ones, so a
    kill at any point leaves every file old or new and still ours."""
    folder = Path(folder)
    check_owned(folder, list(files), what)
    manifest = read_manifest(folder)
    temps = {}
    try:
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            temps[name] = write_temp(folder / name, data)
        new = {name: digest(data) for name, data in files.items()}
        _write_manifest(folder, {**manifest, **{n: sorted(set(manifest.get(n, [])) | {new[n]}) for n in new}})
        for name in files:
            os.replace(temps.pop(name), folder / name)
        for sub in {(folder / n).parent for n in files}:
            fsync_dir(sub)
        _write_manifest(folder, {**manifest, **{n: [h] for n, h in new.items()}})
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
