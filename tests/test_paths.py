"""TINYTRAIN_DATA: a file or a folder without the datasets layout is refused naming the variable;
each item is looked up in TINYTRAIN_DATA, ../shared/datasets, then the cache; a missing one names
the fetch command; damaged files are reported with the checksum command (or a new fetch)."""
import pytest
from data_isolation import only_this_data

from tvm_tinytrain import paths
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.paths import damaged, data_root, find_data, open_tar, where


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "is not a folder"),
    (lambda p: p.mkdir(), "holds none of weights, cifar10"),
    (lambda p: (p / "photos").mkdir(parents=True), "holds none of"),
])
def test_override_must_be_a_datasets_folder(tmp_path, monkeypatch, make, message):
    make(tmp_path / "data")
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path / "data"))
    with pytest.raises(TinyTrainError, match=f"TINYTRAIN_DATA={tmp_path / 'data'} {message}"):
        data_root()


def test_partial_layout_is_accepted(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.setenv("TINYTRAIN_DATA", "")  # empty: the default location
    assert data_root() != tmp_path


def test_damaged_and_tar_messages(tmp_path):
    err = damaged("who", tmp_path / "set" / "file.gz", "why")
    assert str(err) == (f"who: {tmp_path}/set/file.gz is truncated or corrupt (why); check it against SHA256SUMS in "
                        f"the datasets folder (cd {tmp_path} && sha256sum -c SHA256SUMS) and restore it")
    with pytest.raises(TinyTrainError, match="not found"):
        open_tar("who", tmp_path / "set" / "missing.tar")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "junk.tar").write_bytes(b"<html>" * 256)
    with pytest.raises(TinyTrainError, match="junk.tar is truncated or corrupt .*not a readable tar"):
        open_tar("who", tmp_path / "set" / "junk.tar")


def _put(root, rel, text="x"):
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    return root / rel


def test_lookup_order_override_then_shared_then_cache(tmp_path, monkeypatch):
    """Each item is taken from the first place holding it; each alternative form counts."""
    override, shared, cache = tmp_path / "override", tmp_path / "shared", tmp_path / "cache"
    (override / "cifar10").mkdir(parents=True)
    only_this_data(monkeypatch, override, cache)
    monkeypatch.setattr(paths, "shared_root", lambda: shared)
    in_cache = _put(cache / "data", "cifar10/b.bin")
    assert find_data("cifar10", "cifar10/a.tgz", "cifar10/b.bin") == in_cache
    in_shared = _put(shared, "cifar10/b.bin")
    assert find_data("cifar10", "cifar10/a.tgz", "cifar10/b.bin") == in_shared
    in_override = _put(override, "cifar10/a.tgz")
    assert find_data("cifar10", "cifar10/a.tgz", "cifar10/b.bin") == in_override
    assert where("cifar10", "cifar10/b.bin") == ("../shared/datasets", in_shared)
    assert where("cifar10", "cifar10/c") is None


def test_missing_item_names_the_fetch_command(tmp_path, monkeypatch):
    only_this_data(monkeypatch, None, tmp_path / "cache")
    with pytest.raises(TinyTrainError, match=r"speech-commands: speech-commands/x.tar not found in no datasets "
                                             r"folder exists; run `tvm-tinytrain fetch speech-commands`"):
        find_data("speech-commands", "speech-commands/x.tar")
    _put(tmp_path / "cache" / "data", "other")
    with pytest.raises(TinyTrainError, match=r"not found in cache \(.*\); set TINYTRAIN_DATA to a datasets folder "
                                             r"holding it \(samples cannot be fetched\)"):
        find_data("samples", "samples/s.tar")
    with pytest.raises(TinyTrainError, match="cannot find the datasets folder"):
        data_root()


def test_damaged_cache_entry_names_the_fetch_to_redo(tmp_path, monkeypatch):
    only_this_data(monkeypatch, None, tmp_path / "cache")
    path = _put(tmp_path / "cache" / "data", "weights/tiny-training-int8/m.npz")
    assert "delete it and fetch it again (`tvm-tinytrain fetch backbones`)" in str(damaged("who", path, "why"))
