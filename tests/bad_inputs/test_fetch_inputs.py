"""Bad inputs of `fetch`: an unknown item, a mirror that is not HTTP, a mirror serving the wrong file
or missing it. Each fails with one line naming the item, variable or file and the fix, and leaves
no cache entry (the cache is inside the case folder)."""
import pytest

from bad_input_harness import Case, run_bad
from local_http import serving
from tvm_tinytrain.fetch.catalogue import ITEMS

CACHE = {"TVM_TINYTRAIN_CACHE": lambda folder: str(folder / "cache")}
PKL = ITEMS["backbones"].files[0]  # mcunet-5fps.pkl, the first one fetched

CASES = [
    Case("unknown-item", ["fetch", "backbones", "imagenet"], ("unknown item 'imagenet'", "backbones, cifar10"),
         env=CACHE),
    Case("no-item", ["fetch"], ("name what to fetch", "--list"), env=CACHE),
    Case("mirror-ftp", ["fetch", "cifar10"], ("TINYTRAIN_MIRROR=ftp://mirror.example/datasets",
                                              "not an http:// or https:// URL"),
         env={**CACHE, "TINYTRAIN_MIRROR": "ftp://mirror.example/datasets"}),
    Case("mirror-path", ["fetch", "all"], ("TINYTRAIN_MIRROR=/srv/datasets", "not an http:// or https:// URL"),
         env={**CACHE, "TINYTRAIN_MIRROR": "/srv/datasets"}),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_fetch_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
    assert not (tmp_path / "cache").exists()  # refused before the cache is touched


MIRRORS = [  # what the mirror serves at mcunet-5fps.pkl's path, and what the message must say
    ("wrong-file", {PKL.rel: bytes(PKL.size)}, ("mcunet-5fps.pkl", f"not the recorded {PKL.sha256}",
                                               "refused and removed", "check the mirror's copy")),
    ("too-long-file", {PKL.rel: bytes(PKL.size + 1)}, ("is 1,024,368 bytes, the recorded file 1,024,367",
                                                       "not the original", "nothing kept")),
    ("missing-file", {}, ("weights/tiny-training-pkl/mcunet-5fps.pkl", "HTTP 404", "TINYTRAIN_MIRROR")),
]


@pytest.mark.parametrize("name, files, expect", MIRRORS, ids=[m[0] for m in MIRRORS])
def test_a_mirror_serving_a_wrong_file(name, files, expect, tmp_path, capsys, monkeypatch):
    with serving(files) as (base, _):
        run_bad(Case(name, ["fetch", "backbones"], expect, env={**CACHE, "TINYTRAIN_MIRROR": base}),
                tmp_path, capsys, monkeypatch)
    cached = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached == [], f"a refused download left {cached} in the cache"
