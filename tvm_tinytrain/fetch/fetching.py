"""Fetch items into the per-user cache, and fetch what a command needs when no folder holds it.

Everything goes into the cache's datasets folder (`paths.cache_data_root()`, same layout as
../shared/datasets), each subfolder created private (0700) and checked like the rest of the cache.
One fetch at a time per cache (a lock in its datasets folder): two would write the same .part.
The backbones arrive as the paper's .pkl files and, once verified, are converted with the
restricted unpickler into the npz + json that `backbones.py` loads.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import paths
from ..convert_weights import convert_pkl
from ..outputs import output_lock
from ..user_cache import private_dir
from .catalogue import ITEMS, Item, megabytes, resolve
from .download import download
from .mirror import url_for

LOCK = ".fetch.lock"


def _folder(rel: str) -> Path:
    """The cache's datasets folder `rel` (and each folder above it), made private and checked."""
    name = "data"
    folder = private_dir(name)
    for part in Path(rel).parts:
        name = f"{name}/{part}"
        folder = private_dir(name)
    return folder


def _convert(item: Item, fresh: bool) -> bool:
    """The backbones' npz + json, converted from the verified .pkl files when these are new or they are missing."""
    out = _folder(item.folder)
    done = False
    for remote in item.files:
        pkl = paths.cache_data_root() / remote.rel
        stem = Path(remote.rel).stem
        if fresh or not all((out / f"{stem}{suffix}").is_file() for suffix in (".npz", ".json")):
            convert_pkl(pkl, out, force=True)
            done = True
    return done


def fetch(names, progress: bool = True) -> list[tuple[str, bool, Path]]:
    """Bring the items `names` into the cache: (item, whether anything was downloaded or converted,
    its folder in the cache) for each."""
    items = resolve(names)
    urls = {remote.rel: url_for(remote) for item in items for remote in item.files}  # a bad mirror: before any write
    results = []
    with output_lock(_folder(""), LOCK, what="cache folder"):
        for item in items:
            fresh = False
            for remote in item.files:
                dest = _folder(str(Path(remote.rel).parent)) / Path(remote.rel).name
                fresh |= download(urls[remote.rel], dest, remote.size, remote.sha256, progress)
            if item.name == "backbones":
                fresh |= _convert(item, fresh)
            results.append((item.name, fresh, paths.cache_data_root() / item.folder))
    return results


def report(results) -> list[str]:
    """One line per fetched item: what happened, where it is, and which copy the lookup order uses."""
    lines = []
    for name, fresh, folder in results:
        line = f"{name}: {'fetched' if fresh else 'already in the cache'} ({megabytes(ITEMS[name].size)}, SHA-256 " \
               f"checked): {folder}"
        found = paths.locate(name)
        if found is not None and found[0] != "cache":
            line += f" (the copy in {found[0]} is found first: {found[1].parent})"
        lines.append(line)
    return lines


def listing() -> list[str]:
    """Each item, its download size, and where the lookup order finds it now."""
    lines = []
    for name, item in ITEMS.items():
        found = paths.locate(name)
        where = f"{found[0]}: {found[1].parent}" if found else "missing"
        lines.append(f"{name:<16} {megabytes(item.size):>9}   {where}")
    return lines


def ensure_available(items, who: str, progress: bool = True) -> list[str]:
    """Fetch those of `items` that no datasets folder holds, saying so first; the items fetched."""
    missing = [name for name in items if paths.locate(name) is None]
    for name in missing:
        print(f"{who} needs {name}, which is not in {paths.ENV_VAR}, ../shared/datasets or the cache: fetching it "
              f"({megabytes(ITEMS[name].size)})", file=sys.stderr)
        fetch([name], progress)
    return missing
