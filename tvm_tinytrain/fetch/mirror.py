"""Where a file is fetched from: its original URL, or `$TINYTRAIN_MIRROR/<rel>`.

A mirror is any datasets folder served over HTTP(S) (`python -m http.server` in one does): the
layout is the same as the cache's, and the recorded checksums still decide what is accepted.
"""
from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

from ..errors import TinyTrainError
from .catalogue import Remote

ENV_VAR = "TINYTRAIN_MIRROR"
SCHEMES = ("http", "https")


def check_url(url: str, what: str | None = None) -> str:
    """`url` if it is http(s) with a host, else the error naming `what` it came from (default: the URL)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        raise TinyTrainError(f"fetch: {what or url} is not an http:// or https:// URL; only HTTP(S) downloads "
                             f"are made (set {ENV_VAR} to the base URL of a mirror, e.g. http://host:8000)")
    return url


def url_for(remote: Remote) -> str:
    """The URL `remote` is downloaded from: the mirror's copy when TINYTRAIN_MIRROR is set."""
    base = os.environ.get(ENV_VAR)
    if not base:
        return check_url(remote.url)
    check_url(base, f"{ENV_VAR}={base}")
    return f"{base.rstrip('/')}/{quote(remote.rel)}"
