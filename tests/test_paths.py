"""TINYTRAIN_DATA: a file or a folder without the datasets layout is refused naming the variable;
damaged files are reported with the checksum command."""
import pytest

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.paths import damaged, data_root, open_tar


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
