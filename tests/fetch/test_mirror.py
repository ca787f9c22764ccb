"""TINYTRAIN_MIRROR: the datasets-folder layout under a base URL; only http(s) accepted."""
import pytest

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.fetch.catalogue import ITEMS
from tvm_tinytrain.fetch.mirror import check_url, url_for

CIFAR = ITEMS["cifar10"].files[0]


def test_original_url_without_a_mirror(monkeypatch):
    monkeypatch.delenv("TINYTRAIN_MIRROR", raising=False)
    assert url_for(CIFAR) == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


@pytest.mark.parametrize("base", ["http://mirror.example:8000", "http://mirror.example:8000/"])
def test_mirror_replaces_the_url_with_the_layout_path(monkeypatch, base):
    monkeypatch.setenv("TINYTRAIN_MIRROR", base)
    assert url_for(CIFAR) == "http://mirror.example:8000/cifar10/cifar-10-binary.tar.gz"


@pytest.mark.parametrize("base", ["ftp://mirror.example/data", "file:///srv/datasets", "/srv/datasets",
                                  "http:///nohost"])
def test_a_mirror_that_is_not_http_is_refused(monkeypatch, base):
    monkeypatch.setenv("TINYTRAIN_MIRROR", base)
    with pytest.raises(TinyTrainError, match=f"TINYTRAIN_MIRROR={base} is not an http:// or https:// URL"):
        url_for(CIFAR)


def test_check_url_names_the_url():
    assert check_url("https://a.example/x") == "https://a.example/x"
    with pytest.raises(TinyTrainError, match="file:///etc/passwd is not an http"):
        check_url("file:///etc/passwd")
