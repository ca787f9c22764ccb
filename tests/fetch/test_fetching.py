"""fetch() and the `fetch` command into an empty cache from a local mirror: the paper's real .pkl
files (they match the recorded checksums) converted into the arrays ../shared/datasets holds; the
dataset items with small made-up files, whose size and SHA-256 replace the catalogue's here."""
import contextlib
import fcntl
import hashlib
import json
import os

import numpy as np
import pytest

from data_isolation import only_this_data
from local_http import serving
from tvm_tinytrain import paths
from tvm_tinytrain.cli import main
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.fetch import ensure_available, fetch
from tvm_tinytrain.fetch.catalogue import ITEMS, Item, Remote
from tvm_tinytrain.fetch.fetching import LOCK

SHARED = paths.data_root()  # the originals, read before only_this_data hides the folder


def papers_pkl_files() -> dict:
    return {f.rel: (SHARED / f.rel).read_bytes() for f in ITEMS["backbones"].files}


def made_up(monkeypatch, name: str) -> dict:
    """Small files in place of `name`'s (the test's own size and SHA-256 in the catalogue); {rel: bytes}."""
    files = {f.rel: f"made-up {f.rel}".encode() * 100 for f in ITEMS[name].files}
    remotes = tuple(Remote(f"https://unused.example/{rel}", len(data), hashlib.sha256(data).hexdigest(), "test", rel)
                    for rel, data in files.items())
    monkeypatch.setitem(ITEMS, name, Item(name, remotes, ITEMS[name].folder))
    return files


@pytest.fixture
def empty(tmp_path, monkeypatch):
    """No datasets folder but an empty cache; TINYTRAIN_MIRROR is the local server's."""
    cache = tmp_path / "cache"
    only_this_data(monkeypatch, None, cache)
    return cache


@pytest.fixture
def mirror(monkeypatch):
    """mirror(files) serves {rel: bytes} as TINYTRAIN_MIRROR until the test ends; its request record."""
    with contextlib.ExitStack() as stack:
        def start(files):
            base, state = stack.enter_context(serving(files))
            monkeypatch.setenv("TINYTRAIN_MIRROR", base)
            return state
        yield start


def test_backbones_into_an_empty_cache_equal_the_converted_originals(empty, mirror):
    state = mirror(papers_pkl_files())
    [(name, fresh, folder)] = fetch(["backbones"], progress=False)
    assert (name, fresh, folder) == ("backbones", True, empty / "data" / "weights" / "tiny-training-int8")
    for stem in ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3"):
        reference = SHARED / "weights" / "tiny-training-int8"
        assert json.loads((folder / f"{stem}.json").read_text()) == json.loads((reference / f"{stem}.json").read_text())
        with np.load(folder / f"{stem}.npz") as got, np.load(reference / f"{stem}.npz") as want:
            assert sorted(got.files) == sorted(want.files)
            for key in want.files:
                assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key]), key
    assert paths.locate("backbones") == ("cache", folder / "mcunet-5fps.json")
    assert sorted(os.listdir(empty / "data")) == ["weights"]  # no lock or .part left
    assert all(oct(p.stat().st_mode)[-3:] == "700" for p in (empty, empty / "data", folder))

    assert fetch(["backbones"], progress=False) == [("backbones", False, folder)]
    assert len(state.requests) == 3  # the second fetch made no request


def test_a_deleted_conversion_is_redone_without_a_download(empty, mirror):
    state = mirror(papers_pkl_files())
    [(_, _, folder)] = fetch(["backbones"], progress=False)
    (folder / "mbv2-w0.35.npz").unlink()
    assert fetch(["backbones"], progress=False) == [("backbones", True, folder)]
    assert (folder / "mbv2-w0.35.npz").is_file() and len(state.requests) == 3


def test_fetch_refuses_while_another_fetch_holds_the_cache(empty, monkeypatch, mirror):
    files = made_up(monkeypatch, "cifar10")
    state = mirror(files)
    (empty / "data").mkdir(parents=True, mode=0o700)
    os.chmod(empty, 0o700)
    other = os.open(empty / "data" / LOCK, os.O_RDWR | os.O_CREAT)  # as another process's lock
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(TinyTrainError, match="cache folder .*data is in use by another tvm-tinytrain command"):
            fetch(["cifar10"], progress=False)
    finally:
        os.close(other)
    assert state.requests == []


def test_ensure_available_fetches_only_what_is_missing(tmp_path, monkeypatch, mirror, capsys):
    data = tmp_path / "datasets"  # TINYTRAIN_DATA holds the backbones, nothing else
    (data / "weights" / "tiny-training-int8").mkdir(parents=True)
    (data / "weights" / "tiny-training-int8" / "mcunet-5fps.json").write_text("{}")
    only_this_data(monkeypatch, data, tmp_path / "cache")
    files = made_up(monkeypatch, "cifar10")
    state = mirror(files)
    assert ensure_available(["backbones", "cifar10"], "the demo", progress=False) == ["cifar10"]
    assert [path for path, _ in state.requests] == ["cifar10/cifar-10-binary.tar.gz"]
    err = capsys.readouterr().err
    assert ("the demo needs cifar10, which is not in TINYTRAIN_DATA, ../shared/datasets or the cache: fetching "
            "it (0.0 MB)") in err and "backbones" not in err
    assert paths.locate("cifar10")[0] == "cache"
    assert ensure_available(["backbones", "cifar10"], "the demo", progress=False) == []
    assert len(state.requests) == 1


def test_the_fetch_command_and_its_list(empty, monkeypatch, mirror, capsys):
    files = {**made_up(monkeypatch, "fashion-mnist"), **made_up(monkeypatch, "speech-commands")}
    state = mirror(files)
    assert main(["fetch", "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == list(ITEMS)
    assert all(line.endswith("missing") for line in listing)
    assert listing[1].split()[1:3] == ["170.1", "MB"]

    assert main(["fetch", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert out == f"fashion-mnist: fetched (0.0 MB, SHA-256 checked): {empty / 'data' / 'fashion-mnist'}\n"
    assert sorted(os.listdir(empty / "data" / "fashion-mnist")) == sorted(r.split("/")[1] for r in files
                                                                            if r.startswith("fashion-mnist/"))
    assert main(["fetch", "speech-commands", "fashion-mnist"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fashion-mnist: already in the cache") and out[1].startswith("speech-commands: fetched")
    assert len(state.requests) == 5

    main(["fetch", "--list"])
    listing = capsys.readouterr().out.splitlines()
    assert listing[2].endswith(f"cache: {empty / 'data' / 'fashion-mnist'}") and listing[0].endswith("missing")


def test_a_fetch_while_a_datasets_folder_holds_the_item_says_which_copy_is_used(tmp_path, monkeypatch, mirror, capsys):
    data = tmp_path / "datasets"
    (data / "fashion-mnist").mkdir(parents=True)
    (data / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"mine")
    only_this_data(monkeypatch, data, tmp_path / "cache")
    mirror(made_up(monkeypatch, "fashion-mnist"))
    assert main(["fetch", "fashion-mnist"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"(the copy in TINYTRAIN_DATA is found first: "
                                                      f"{data / 'fashion-mnist'})")
