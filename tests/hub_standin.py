"""A local stand-in for the Hugging Face hub, for pull tests (there is no internet here).

It answers ``HEAD`` and ``GET /{repo}/resolve/{revision}/{path}`` as the hub does for a large
(LFS) file: ``X-Repo-Commit``, the file's SHA-256 as its ETag, its size, and ranges (206). It
holds one commit (``Hub.commit``): ``main`` or that commit resolves, any other revision is the
hub's RevisionNotFound.
Faults on request: drop the connection part-way through a file's first download, or serve
bytes that do not match the published SHA-256. It records every request it was sent.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    """A file the stand-in serves, and how it misbehaves."""

    source: Path
    drop_after: int = 0  # > 0: the first GET ends after this many bytes
    corrupt: bool = False  # serve other bytes than the SHA-256 says
    sha256: str = ""

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        with self.source.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        self.sha256 = digest.hexdigest()


@dataclass
class Hub:
    """What is hosted (``repo/path`` -> file) and what was asked."""

    files: dict[str, HostedFile] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, range
    commit: str = COMMIT  # the commit the hosted files are at
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Hub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.serve(self, body=False)

            def do_GET(self) -> None:
                hub.serve(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        ranged = handler.headers.get("Range", "")
        self.requests.append((handler.command, handler.path, ranged))
        repo_path = handler.path.split("?")[0].lstrip("/")
        repo, _, rest = repo_path.partition("/resolve/")
        revision, _, path = rest.partition("/")
        if rest and unquote(revision) not in ("main", self.commit):
            self._not_found(handler, "RevisionNotFound")
            return
        hosted = self.files.get(f"{repo}/{path}")
        if hosted is None:
            self._not_found(handler, "EntryNotFound")
            return
        size = hosted.source.stat().st_size
        start = int(ranged.removeprefix("bytes=").split("-")[0]) if ranged else 0
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", self.commit)
        handler.send_header("ETag", f'"{hosted.sha256}"')
        handler.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
        handler.send_header("X-Linked-Size", str(size))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(size - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        handler.end_headers()
        if body:
            self._send(handler, hosted, start, size)

    @staticmethod
    def _not_found(handler: BaseHTTPRequestHandler, code: str) -> None:
        handler.send_response(404)
        handler.send_header("X-Error-Code", code)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _send(
        self, handler: BaseHTTPRequestHandler, hosted: HostedFile, start: int, size: int
    ) -> None:
        limit = size
        if hosted.drop_after and start == 0:
            limit, hosted.drop_after = hosted.drop_after, 0  # only the first download breaks
        with hosted.source.open("rb") as fh:
            fh.seek(start)
            sent = start
            while sent < limit:
                block = fh.read(min(1 << 20, limit - sent))
                if not block:
                    break
                if hosted.corrupt:
                    block = bytes(b ^ 0xFF for b in block[:16]) + block[16:]
                handler.wfile.write(block)
                sent += len(block)
        if limit < size:
            handler.close_connection = True
            handler.wfile.flush()
            handler.connection.shutdown(2)  # the connection drops mid-file
