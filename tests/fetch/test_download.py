"""One file from the local server: downloaded once, resumed after a cut, and refused (never a cache
entry) when truncated, corrupted or too long."""
import hashlib
import io
import os
import sys

import pytest

from local_http import closed_port, serving
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.fetch.download import download

DATA = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server():
    with serving({"set/file.bin": DATA}) as (base, state):
        yield f"{base}/set/file.bin", state


def fetch_to(tmp_path, url):
    dest = tmp_path / "file.bin"
    return download(url, dest, len(DATA), SHA, progress=False), dest


def test_download_then_nothing_the_second_time(tmp_path, server):
    url, state = server
    assert fetch_to(tmp_path, url)[0] is True
    assert (tmp_path / "file.bin").read_bytes() == DATA and os.listdir(tmp_path) == ["file.bin"]
    assert fetch_to(tmp_path, url)[0] is False
    assert state.requests == [("set/file.bin", None)]  # the second fetch made no request


def test_interrupted_download_fails_clearly_then_resumes_with_the_rest(tmp_path, server):
    url, state = server
    state.cut_after = len(DATA) // 2
    with pytest.raises(TinyTrainError, match=r"stopped after 51,200 of 102,400 bytes \(kept in .*file.bin.part; "
                                             r"the same fetch again resumes it\); check the network, or set "
                                             r"TINYTRAIN_MIRROR"):
        fetch_to(tmp_path, url)
    assert not (tmp_path / "file.bin").exists() and (tmp_path / "file.bin.part").stat().st_size == len(DATA) // 2
    assert fetch_to(tmp_path, url)[0] is True
    assert state.requests[1] == ("set/file.bin", "bytes=51200-") and state.sent == [51200, 51200]
    assert (tmp_path / "file.bin").read_bytes() == DATA and not (tmp_path / "file.bin.part").exists()


def test_a_server_that_ignores_the_range_restarts_from_zero(tmp_path, server):
    url, state = server
    (tmp_path / "file.bin.part").write_bytes(b"x" * 1000)  # not even the right bytes: all replaced
    state.ignore_range = True
    assert fetch_to(tmp_path, url)[0] is True
    assert state.requests == [("set/file.bin", "bytes=1000-")] and state.sent == [len(DATA)]
    assert (tmp_path / "file.bin").read_bytes() == DATA


def test_a_part_longer_than_the_file_restarts(tmp_path, server):
    url, state = server
    (tmp_path / "file.bin.part").write_bytes(b"x" * (len(DATA) + 1))
    assert fetch_to(tmp_path, url)[0] is True
    assert state.requests == [("set/file.bin", None)] and (tmp_path / "file.bin").read_bytes() == DATA


def test_a_416_answer_restarts(tmp_path):
    with serving({"f": DATA[:100]}) as (base, state):  # the server's file is shorter than our .part
        (tmp_path / "file.bin.part").write_bytes(DATA[:500])
        with pytest.raises(TinyTrainError, match="is 100 bytes, the recorded file 102,400: not the original"):
            fetch_to(tmp_path, f"{base}/f")
        assert state.requests == [("f", "bytes=500-"), ("f", None)] and os.listdir(tmp_path) == []


def test_corrupted_download_is_refused_and_removed(tmp_path):
    bad = bytes([DATA[0] ^ 1]) + DATA[1:]
    with serving({"f": bad}) as (base, _):
        with pytest.raises(TinyTrainError, match=f"file.bin from {base}/f has SHA-256 "
                                                 f"{hashlib.sha256(bad).hexdigest()}, not the recorded {SHA}: "
                                                 f"refused and removed"):
            fetch_to(tmp_path, f"{base}/f")
    assert os.listdir(tmp_path) == []


def test_truncated_file_is_refused(tmp_path):
    """A server whose file is one byte short (it says so: Content-Length, or Content-Range's total when
    resuming) serves another file: refused before anything is written, nothing kept to resume."""
    with serving({"f": DATA[:-1]}) as (base, state):
        with pytest.raises(TinyTrainError, match=r"f is 102,399 bytes, the recorded file 102,400: not the original, "
                                                 r"refused \(nothing kept\); if TINYTRAIN_MIRROR is set"):
            fetch_to(tmp_path, f"{base}/f")
        assert os.listdir(tmp_path) == []
        (tmp_path / "file.bin.part").write_bytes(DATA[:1000])
        with pytest.raises(TinyTrainError, match="is 102,399 bytes, the recorded file 102,400"):
            fetch_to(tmp_path, f"{base}/f")
        assert state.requests[-1] == ("f", "bytes=1000-") and os.listdir(tmp_path) == []


def test_too_long_file_is_refused_and_removed(tmp_path):
    with serving({"f": DATA + b"!"}) as (base, state):
        with pytest.raises(TinyTrainError, match="is 102,401 bytes, the recorded file 102,400: not the original"):
            fetch_to(tmp_path, f"{base}/f")
        assert os.listdir(tmp_path) == []
        state.no_length = True  # a server that does not say its size: refused once past the recorded size
        with pytest.raises(TinyTrainError, match="sent more than the recorded 102,400 bytes: refused and removed"):
            fetch_to(tmp_path, f"{base}/f")
    assert os.listdir(tmp_path) == []


def test_a_damaged_copy_in_place_is_downloaded_again(tmp_path, server):
    url, state = server
    (tmp_path / "file.bin").write_bytes(DATA[:-1] + b"?")
    assert fetch_to(tmp_path, url)[0] is True
    assert (tmp_path / "file.bin").read_bytes() == DATA and len(state.requests) == 1


def test_network_errors_name_the_url_and_the_fix(tmp_path, server):
    url, _ = server
    with pytest.raises(TinyTrainError, match=r"/set/missing.bin: HTTP 404 .*check the network, or set "
                                             r"TINYTRAIN_MIRROR to a mirror"):
        fetch_to(tmp_path, url.replace("file.bin", "missing.bin"))
    base = closed_port()
    with pytest.raises(TinyTrainError, match=f"fetch: {base}/f: .*[Cc]onnection refused.*TINYTRAIN_MIRROR"):
        fetch_to(tmp_path, f"{base}/f")
    assert os.listdir(tmp_path) == []


def test_only_http_is_opened(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(DATA)
    with pytest.raises(TinyTrainError, match="is not an http:// or https:// URL"):
        fetch_to(tmp_path, secret.as_uri())
    assert not (tmp_path / "file.bin").exists()


def test_a_redirect_to_a_local_file_is_not_followed(tmp_path, server):
    url, state = server
    secret = tmp_path / "secret"
    secret.write_bytes(DATA)
    state.redirects["set/file.bin"] = secret.as_uri()
    with pytest.raises(TinyTrainError, match="set/file.bin: HTTP 302"):
        fetch_to(tmp_path, url)
    assert not (tmp_path / "file.bin").exists()


def test_progress_bar_on_a_terminal(tmp_path, server, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(sys, "stderr", Terminal())
    url, _ = server
    download(url, tmp_path / "file.bin", len(DATA), SHA)
    shown = sys.stderr.getvalue()
    assert "file.bin: 100%" in shown and "100k/100k" in shown
