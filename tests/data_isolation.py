"""Tests that put their own datasets folder in TINYTRAIN_DATA must see only it: the lookup order
would otherwise fall through to ../shared/datasets and the user's cache for what it lacks."""
from pathlib import Path

from tvm_tinytrain import paths


def only_this_data(monkeypatch, folder: Path | None, cache: Path):
    """Data comes from `folder` (TINYTRAIN_DATA, unless None) and the empty-or-given cache `cache` only."""
    if folder is None:
        monkeypatch.delenv(paths.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(paths.ENV_VAR, str(folder))
    monkeypatch.setenv("TVM_TINYTRAIN_CACHE", str(cache))
    monkeypatch.setattr(paths, "shared_root", lambda: None)
