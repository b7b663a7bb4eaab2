"""A local HTTP server for download tests: in-memory payloads on 127.0.0.1 with Range support,
cut transfers, scripted error answers, Google-Drive-style confirmation pages and a request log.

    with LocalServer() as server:
        url = server.add("/f.bin", Payload(b"...", cut_after=10))
        ...
        assert server.requests[1].headers["Range"] == "bytes=10-"
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qsl, urlencode, urlsplit

HOST = "127.0.0.1"


@dataclass
class Payload:
    """What the server answers on one path."""

    body: bytes
    content_type: str = "application/octet-stream"
    ranges: bool = True  # honour Range requests; False: always answer 200 with the whole body
    cut_after: int | None = None  # first body served only: drop the connection after this many bytes
    errors: list[int] = field(default_factory=list)  # statuses answering the first requests, in order
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    hits: int = 0  # requests received
    served: int = 0  # bodies sent


@dataclass(frozen=True)
class Request:
    path: str  # with the query
    headers: dict[str, str]


def _key(target: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A request target as (path, sorted query items): the query's order does not matter."""
    parts = urlsplit(target)
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def drive_page(action: str | None, fields: dict[str, str]) -> bytes:
    """A Google-Drive-like HTML page: with ``action``, the "download anyway" form; without, a quota notice."""
    if action is None:
        return b"<html><body><p>Too many users have viewed or downloaded this file recently.</p></body></html>"
    inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    return (
        '<html><head><title>Google Drive - Virus scan warning</title></head><body>'
        '<p>Google Drive can\'t scan this file for viruses.</p>'
        f'<form id="download-form" action="{escape(action)}" method="get">'
        f'<input type="submit" id="uc-download-link" value="Download anyway">{inputs}</form>'
        '</body></html>'
    ).encode()


class LocalServer:
    """A threaded HTTP server on a free local port; a context manager that stops it on exit."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._payloads: dict[tuple, Payload] = {}
        self.lock = threading.Lock()
        self._httpd = _HTTPServer((HOST, 0), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def url(self, target: str) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}{target}"

    def add(self, target: str, payload: Payload | bytes) -> str:
        """Serve ``payload`` at ``target`` (a path, with a query if any); returns its URL."""
        self._payloads[_key(target)] = payload if isinstance(payload, Payload) else Payload(payload)
        return self.url(target)

    def add_drive_file(self, file_id: str, file: Payload | bytes, *, downloadable: bool = True) -> str:
        """Mimic drive.usercontent.google.com: ``/download?id=..&export=download`` answers the confirmation
        page, whose form leads to ``file``; with ``downloadable=False`` a page without a form. Returns base_url."""
        base = self.url("/download")
        fields = {"id": file_id, "export": "download", "confirm": "t", "uuid": "0b6c-uuid"}
        page = drive_page(base if downloadable else None, fields)
        self.add(f"/download?id={file_id}&export=download", Payload(page, content_type="text/html; charset=utf-8"))
        self.add(f"/download?{urlencode(fields)}", file)
        return base

    def payload(self, target: str) -> Payload | None:
        return self._payloads.get(_key(target))

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: LocalServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle kept-alive connection ends after this many seconds
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is ``LocalServer.requests``."""

    def do_GET(self) -> None:
        app = self.server.app
        app.record(Request(self.path, dict(self.headers)))
        payload = app.payload(self.path)
        if payload is None:
            return self._plain(404, b"not found")
        with app.lock:
            hit, payload.hits = payload.hits, payload.hits + 1
        if hit < len(payload.errors):
            return self._plain(payload.errors[hit], b"scripted error")
        self._serve(payload)

    def _plain(self, code: int, text: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def _serve(self, p: Payload) -> None:
        n = len(p.body)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")) if p.ranges else None
        start, end = (int(m[1]), min(int(m[2] or n - 1), n - 1)) if m else (0, n - 1)
        if m and start >= n:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{n}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = p.body[start:end + 1]
        self.send_response(206 if m else 200)
        self.send_header("Content-Type", p.content_type)
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end}/{n}")
        if p.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        with self.server.app.lock:
            first, p.served = p.served == 0, p.served + 1
        if first and p.cut_after is not None:
            self.wfile.write(body[:p.cut_after])
            self.close_connection = True
            return
        self.wfile.write(body)
