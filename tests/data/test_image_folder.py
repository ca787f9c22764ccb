"""A user's image folder: class folders, the fixed split, train/test sub-folders, bad files."""
import numpy as np
import pytest
from folder_helpers import make_folder
from PIL import Image

from tvm_tinytrain.data.image_folder import list_image_folder, open_image
from tvm_tinytrain.errors import TinyTrainError


def test_split_and_order(tmp_path):
    root = make_folder(tmp_path / "pets", {"dog": 10, "cat": 5})
    (root / "cat" / "notes.txt").write_text("ignored")
    classes, split = list_image_folder(root)
    assert classes == ("cat", "dog")
    test_labels = [label for _, label in split["test"]]
    assert test_labels.count(0) == 1 and test_labels.count(1) == 2
    assert len(split["train"]) == 12
    assert not {p for p, _ in split["train"]} & {p for p, _ in split["test"]}
    assert list_image_folder(root) == (classes, split)  # fixed split


def test_train_test_subfolders(tmp_path):
    make_folder(tmp_path / "d" / "train", {"a": 3, "b": 2})
    make_folder(tmp_path / "d" / "test", {"a": 1, "b": 1})
    classes, split = list_image_folder(tmp_path / "d")
    assert classes == ("a", "b") and len(split["train"]) == 5 and len(split["test"]) == 2


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(TinyTrainError, match="not a folder"):
        list_image_folder(tmp_path / "missing")
    make_folder(tmp_path / "one", {"only": 4})
    with pytest.raises(TinyTrainError, match="at least 2"):
        list_image_folder(tmp_path / "one")
    make_folder(tmp_path / "few", {"a": 3, "b": 1})
    with pytest.raises(TinyTrainError, match="has 1 images"):
        list_image_folder(tmp_path / "few")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(TinyTrainError, match="broken.jpg"):
        open_image(bad)
    assert np.asarray(open_image(tmp_path / "few" / "a" / "000.JPG")).shape == (30, 40, 3)


def test_entries_that_are_not_images_are_named(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets", {"dog": 3, "cat": 3})
    (root / "cat" / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(TinyTrainError, match=r"cat/gone.png is a dangling link"):
        list_image_folder(root)
    (root / "cat" / "gone.png").unlink()
    (root / "cat" / "album.jpg").mkdir()
    with pytest.raises(TinyTrainError, match=r"cat/album.jpg is not a regular file"):
        list_image_folder(root)
    (root / "cat" / "album.jpg").rmdir()
    (root / "cat" / ".hidden.png").write_bytes(b"editor backup")  # hidden files are not data
    assert len(list_image_folder(root)[1]["train"]) == 4
    real_iterdir = type(root).iterdir

    def locked(self):
        if self.name == "dog":
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(type(root), "iterdir", locked)
    with pytest.raises(TinyTrainError, match=r"cannot list .*pets/dog: Permission denied"):
        list_image_folder(root)


def test_empty_and_truncated_images_are_named(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(TinyTrainError, match="cannot read image .*empty.png"):
        open_image(tmp_path / "empty.png")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:60])
    with pytest.raises(TinyTrainError, match="cannot read image .*cut.png"):
        open_image(tmp_path / "cut.png")
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "white16.png")
    assert open_image(tmp_path / "white16.png").mode == "L"
