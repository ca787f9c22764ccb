"""A local HTTP server for the fetch tests (no network here): serves {path: bytes} on 127.0.0.1
from a thread, honours `Range: bytes=N-`, records every request, and can be told to cut a
response short or to ignore ranges, as a flaky or simple server would."""
from __future__ import annotations

import re
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Files:
    """What the server serves and what it saw: `requests` is [(path, Range header or None)],
    `sent` the body bytes written per request."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []
        self.sent: list[int] = []
        self.cut_after: int | None = None  # close the connection after this many body bytes, once
        self.ignore_range = False
        self.no_length = False  # no Content-Length: the body ends when the connection closes (HTTP/1.0)
        self.redirects: dict[str, str] = {}  # path -> Location of a 302 answer


def _handler(state: Files):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.lstrip("/")
            state.requests.append((path, self.headers.get("Range")))
            if path in state.redirects:
                state.sent.append(0)
                self.send_response(302)
                self.send_header("Location", state.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = state.files.get(path)
            if data is None:
                state.sent.append(0)
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and not state.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    state.sent.append(0)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            if not state.no_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body, state.cut_after = body[:state.cut_after], None
            state.sent.append(len(body))  # before the client can have read it all
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as fetch does when a file is not the one it wants

        def log_message(self, *args):
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client hanging up is part of the tests; anything else still prints (stderr is
        what the bad-input tests read, so a printed traceback there fails them)."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextmanager
def serving(files: dict[str, bytes]):
    """(base URL, Files) of a server running for the duration of the block."""
    state = Files(files)
    server = _Server(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> str:
    """A base URL on which nothing listens (the port was bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
