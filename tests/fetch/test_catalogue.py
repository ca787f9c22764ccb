"""The catalogue: the items paths.py knows as fetchable, checksums that match the real files, and
stored where the lookup order looks."""
import hashlib

import pytest

from tvm_tinytrain import paths
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.fetch.catalogue import ITEMS, resolve


def test_items_are_the_fetchable_ones():
    assert tuple(ITEMS) == paths.FETCHABLE


def test_what_fetch_stores_is_what_the_lookup_finds():
    for name, item in ITEMS.items():
        stored = {f.rel for f in item.files}
        if name == "backbones":  # the .pkl files are converted into the folder backbones.py reads
            assert all(rel.startswith(item.folder + "/") for rel in paths.FORMS[name])
        else:
            assert stored & set(paths.FORMS[name]), name
            assert all(rel.startswith(item.folder + "/") for rel in stored)


def test_backbone_checksums_match_the_papers_files():
    folder = paths.data_root() / "weights" / "tiny-training-pkl"
    for remote in ITEMS["backbones"].files:
        data = (folder / remote.rel.rsplit("/", 1)[1]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (remote.size, remote.sha256)
        assert "7bf8e05bbeebda76cbf2ea2dd596dedee7e3f343" in remote.url


def test_every_file_has_a_checksum_and_an_https_or_http_source():
    for item in ITEMS.values():
        for f in item.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0 and f.source
            assert f.url.startswith(("https://", "http://"))
    assert ITEMS["cifar10"].files[0].rel.endswith("cifar-10-binary.tar.gz")  # never the pickled distribution


def test_resolve():
    assert [i.name for i in resolve(["all"])] == list(ITEMS)
    assert [i.name for i in resolve(["speech-commands", "backbones", "backbones"])] == ["backbones",
                                                                                          "speech-commands"]
    with pytest.raises(TinyTrainError, match="unknown item 'imagenet'; the items are backbones, cifar10"):
        resolve(["backbones", "imagenet"])
    with pytest.raises(TinyTrainError, match="name what to fetch"):
        resolve([])
