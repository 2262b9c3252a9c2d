"""A real HTTP server on 127.0.0.1 whose routes a test writes: feeds, pages, robots.txt
and faults (status codes, slow answers, redirects, huge bodies streamed, never held).

Used by the feed, fetch and watch tests and by ``benchmarks/feeds.py``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer If-None-Match with 304 while it matches
    delay: float = 0.0  # seconds before answering (a read timeout)
    size: int = 0  # stream this many filler bytes instead of body, no Content-Length


class WebServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, body: bytes | str = b"", **options: Any) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(data, **options)
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(p == path for p, _ in self.requests)

    def record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)


def _handler(server: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            server.record(self.path, dict(self.headers))
            route = server.routes.get(self.path) or Route(b"not found", status=404)
            if route.delay:
                time.sleep(route.delay)
            try:
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._answer(route)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what a size cap does

        def _answer(self, route: Route) -> None:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", route.etag)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.size:
                self.send_header("Connection", "close")
                self.end_headers()
                piece = b"<p>" + b"x" * 65_530 + b"</p>"
                for _ in range(route.size // len(piece)):
                    self.wfile.write(piece)
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

    return Handler


def article_page(title: str, text: str, published: str = "", extra: str = "") -> str:
    """A news page as a site would serve it: head metadata, navigation, the story."""
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return (
        f"<html><head><title>{escape(title)}</title>{meta}"
        '<meta property="og:site_name" content="Test Gazette"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{escape(title)}</h1>{paragraphs}</article>{extra}"
        "<footer>Copyright Test Gazette</footer></body></html>"
    )


def rss(title: str, items: list[dict[str, str]]) -> str:
    """An RSS 2.0 feed; each item may have title, link, guid, description, pubDate."""
    parts = []
    for item in items:
        fields = "".join(
            f"<{name}>{escape(value)}</{name}>" for name, value in item.items() if value
        )
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        f"<description>test feed</description>{''.join(parts)}</channel></rss>"
    )


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)
