"""One file over HTTP(S) into the cache: resumable, and kept only when its size and SHA-256 match.

The bytes go to `<dest>.part` beside `dest`; an interrupted download leaves it, and the next one
asks for the rest (`Range: bytes=N-`). Only a complete file with the recorded checksum is renamed
onto `dest`, so a truncated or corrupted download never becomes a cache entry; a .part with the
wrong checksum is removed (none of its bytes can be trusted to resume from). Only http(s) is
opened, redirects included: the opener has no file:, ftp: or data: handler.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.request
from pathlib import Path
from urllib.error import HTTPError, URLError

from tqdm import tqdm

from ..errors import TinyTrainError
from ..outputs import fsync_dir
from ..user_cache import ENV_VAR as CACHE_VAR, checked_file
from .mirror import ENV_VAR as MIRROR_VAR, check_url

TIMEOUT = 30  # seconds without progress (connect or read) before a download is given up, resumable
CHUNK = 1 << 16
FIX = f"check the network, or set {MIRROR_VAR} to a mirror (a datasets folder served over HTTP)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


class _Restart(Exception):
    """The server cannot resume: download from the first byte."""


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_verified(path: Path, size: int, sha256: str) -> bool:
    """`path` is our regular file (checked: not a link, not writable by others) with this size and hash."""
    return checked_file(path).stat().st_size == size and sha256_of(path) == sha256


def download(url: str, dest: Path, size: int, sha256: str, progress: bool = True) -> bool:
    """Bring `url` to `dest` unless a verified copy is there; True when bytes were downloaded."""
    dest = Path(dest)
    if dest.exists():
        if is_verified(dest, size, sha256):
            return False
        dest.unlink()  # damaged: it must not be found while it is replaced
    check_url(url)
    part = dest.with_name(dest.name + ".part")
    for _ in range(2):  # a server that cannot resume restarts it once
        have = part.stat().st_size if part.is_file() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            break
        try:
            _get(url, part, have, size, progress)
            break
        except _Restart:
            part.unlink(missing_ok=True)
    got = part.stat().st_size if part.is_file() else 0
    if got < size:
        raise TinyTrainError(f"fetch: {url}: the download stopped after {got:,} of {size:,} bytes (kept in {part}; "
                             f"the same fetch again resumes it); {FIX}")
    digest = sha256_of(part)
    if digest != sha256:
        part.unlink()
        raise TinyTrainError(f"fetch: {dest.name} from {url} has SHA-256 {digest}, not the recorded {sha256}: refused "
                             f"and removed (corrupted or not the original; if {MIRROR_VAR} is set, check the mirror's "
                             f"copy), then fetch again")
    os.replace(part, dest)
    fsync_dir(dest.parent)
    return True


def _get(url: str, part: Path, have: int, size: int, progress: bool):
    """Append the rest of `url` from byte `have` to `part` (from zero when the server sends it all)."""
    request = urllib.request.Request(url, headers={"User-Agent": "tvm-tinytrain"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = _opener().open(request, timeout=TIMEOUT)
    except HTTPError as e:
        if e.code == 416 and have:  # the .part does not fit the server's file
            raise _Restart() from None
        raise TinyTrainError(f"fetch: {url}: HTTP {e.code} {e.reason}; {FIX}") from None
    except (URLError, OSError, http.client.HTTPException) as e:
        raise TinyTrainError(f"fetch: {url}: {getattr(e, 'reason', None) or e}; {FIX}") from None
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise _Restart()
            total = None if match.group(2) == "*" else int(match.group(2))
        elif response.status == 200:
            have, length = 0, response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise TinyTrainError(f"fetch: {url}: unexpected HTTP {response.status}; {FIX}")
        if total is not None and total != size:  # a whole other file: nothing to resume
            part.unlink(missing_ok=True)
            raise TinyTrainError(f"fetch: {url} is {total:,} bytes, the recorded file {size:,}: not the original, "
                                 f"refused (nothing kept); if {MIRROR_VAR} is set, its copy differs from the "
                                 f"original (copies can: ../shared/datasets' Fashion-MNIST .gz files differ from "
                                 f"the upstream ones in their gzip header)")
        _receive(response, url, part, have, size, progress)


def _receive(response, url: str, part: Path, have: int, size: int, progress: bool):
    try:
        f = open(part, "ab" if have else "wb")
    except OSError as e:
        raise TinyTrainError(f"fetch: cannot write {part} ({e.strerror}); free some space or set {CACHE_VAR} "
                             f"to another folder") from None
    with f, tqdm(total=size, initial=have, desc=part.name[:-len(".part")], unit="B", unit_scale=True,
                 unit_divisor=1024, file=sys.stderr, disable=None if progress else True) as bar:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                f.close()
                raise TinyTrainError(f"fetch: {url}: the download broke off after {part.stat().st_size:,} of "
                                     f"{size:,} bytes ({e or type(e).__name__}; kept in {part}: the same fetch "
                                     f"again resumes it); {FIX}") from None
            if not chunk:
                return
            if have + len(chunk) > size:
                f.close()
                part.unlink()
                raise TinyTrainError(f"fetch: {url} sent more than the recorded {size:,} bytes: refused and removed "
                                     f"(not the original file; if {MIRROR_VAR} is set, check the mirror's copy)")
            try:
                f.write(chunk)
            except OSError as e:
                raise TinyTrainError(f"fetch: cannot write {part} ({e.strerror}); free some space or set "
                                     f"{CACHE_VAR} to another folder") from None
            have += len(chunk)
            bar.update(len(chunk))
