"""`tvm-tinytrain fetch`: the paper's backbones and the datasets, downloaded from their original
sources (or a mirror), checked against checksums recorded here, and kept in the per-user cache.

    catalogue.py   every item's files: URL, size, SHA-256 and its source, path in a datasets folder
    mirror.py      TINYTRAIN_MIRROR: the base URL that replaces the original ones
    download.py    one file: resumable HTTP(S) GET into <file>.part, verified, then renamed into place
    fetching.py    fetch(names), ensure_available(items, who), the --list and report lines
"""
from .fetching import ensure_available, fetch, listing, report

__all__ = ["ensure_available", "fetch", "listing", "report"]
