"""The private per-user cache (tvm_tinytrain/user_cache.py): where it is, and that a folder or
file another user could have written is refused, never used."""
import os
import stat

import pytest

from tvm_tinytrain import user_cache
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.user_cache import building, checked_file, private_dir


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv(user_cache.ENV_VAR, str(path))
    return path


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_where_the_cache_is(tmp_path, monkeypatch):
    monkeypatch.delenv(user_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache.cache_root() == tmp_path / "xdg" / "tvm-tinytrain"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec: ignore a relative one
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache.cache_root() == tmp_path / "home" / ".cache" / "tvm-tinytrain"
    monkeypatch.setenv(user_cache.ENV_VAR, str(tmp_path / "mine"))
    assert user_cache.cache_root() == tmp_path / "mine"


def test_folders_are_created_private(root):
    folder = private_dir("build")
    assert folder == root / "build" and folder.is_dir()
    assert _mode(root) == _mode(folder) == 0o700
    assert private_dir("build") == folder  # and accepted as they are


def test_writes_are_atomic_and_private(root):
    target = private_dir("build") / "thing"
    with building(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_text("made")
        os.chmod(tmp, 0o777)
    assert target.read_text() == "made" and _mode(target) == 0o700
    with pytest.raises(RuntimeError):
        with building(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the build failed")
    assert target.read_text() == "made"
    assert sorted(p.name for p in target.parent.iterdir()) == ["thing"]  # no temporary file left
    assert checked_file(target) == target


@pytest.mark.parametrize("which", ["root", "build"])
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_others_can_write_is_refused(root, which, mode):
    private_dir("build")
    path = root if which == "root" else root / "build"
    os.chmod(path, mode)
    with pytest.raises(TinyTrainError, match=rf"cache folder {path} is writable by other users "
                                             rf"\(mode 0{mode:o}\).*chmod go-w"):
        private_dir("build")


def test_a_folder_of_another_user_is_refused(root, monkeypatch):
    private_dir("build")
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
    with pytest.raises(TinyTrainError, match=rf"cache folder {root} belongs to another user"):
        private_dir("build")


@pytest.mark.parametrize("which", ["root", "build"])
def test_a_symlinked_folder_is_refused(root, tmp_path, which):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (real / "build").mkdir(mode=0o700)
    if which == "root":
        root.symlink_to(real)
        link = root
    else:
        root.mkdir(mode=0o700)
        link = root / "build"
        link.symlink_to(real / "build")
    with pytest.raises(TinyTrainError, match=rf"cache folder {link} is a symbolic link"):
        private_dir("build")


def test_a_file_where_the_folder_belongs_is_refused(root):
    root.mkdir(mode=0o700)
    (root / "build").write_text("not a folder")
    with pytest.raises(TinyTrainError, match=rf"cache folder {root / 'build'} is not a folder"):
        private_dir("build")


def test_cached_files_are_checked(root, tmp_path, monkeypatch):
    folder = private_dir("build")
    lib = folder / "lib.so"
    lib.write_text("x")
    os.chmod(lib, 0o700)
    assert checked_file(lib) == lib
    os.chmod(lib, 0o766)
    with pytest.raises(TinyTrainError, match=rf"cached file {lib} is writable by other users \(mode 0766\)"):
        checked_file(lib)
    link = folder / "link.so"
    link.symlink_to(tmp_path / "elsewhere.so")
    with pytest.raises(TinyTrainError, match=rf"cached file {link} is a symbolic link"):
        checked_file(link)
    os.chmod(lib, 0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
    with pytest.raises(TinyTrainError, match=rf"cached file {lib} belongs to another user"):
        checked_file(lib)
