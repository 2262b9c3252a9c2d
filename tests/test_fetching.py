"""The polite HTTP client against a real server on 127.0.0.1: refusals, conditional GET,
robots.txt, redirects, size cap, timeouts, per-host delay and backoff."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from index.fetching import Fetcher, FetchError, backoff_seconds, is_public
from settings import get_settings
from tests.services import free_port
from tests.web_server import WebServer


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    with WebServer() as server:
        server.route(
            "/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain"
        )
        server.route("/page", "<html><body><p>hello</p></body></html>", etag='"v1"')
        server.route("/private/page", "<p>secret</p>")
        server.route("/loop", status=302, headers={"Location": "/loop"})
        server.route("/hop", status=301, headers={"Location": "/page"})
        server.route("/big", size=50_000_000)
        server.route("/slow", "<p>late</p>", delay=3.0)
        server.route("/doc.pdf", b"%PDF-1.4 " + b"0" * 100_000, content_type="application/pdf")
        yield server


@pytest.fixture(autouse=True)
def _polite_but_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("NEWSQA_FETCH_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSQA_FETCH_READ_TIMEOUT", "1")
    get_settings.cache_clear()


def _error(fetcher: Fetcher, url: str, **options: object) -> str:
    with pytest.raises(FetchError) as caught:
        fetcher.get(url, **options)  # type: ignore[arg-type]
    assert caught.value.url == url
    return str(caught.value)


def test_private_and_loopback_addresses_refused_unless_allowed(
    web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW_PRIVATE", "0")
    get_settings.cache_clear()
    before = len(web.requests)
    fetcher = Fetcher(get_settings())
    assert "loopback or private network" in _error(fetcher, web.url("/page"))
    assert "private network" in _error(fetcher, "http://10.1.2.3/feed.xml")
    assert "private network" in _error(fetcher, "http://[::1]:9/feed.xml")
    # IPv4 addresses carried in IPv6 ones reach the same places.
    for carried in ("::ffff:127.0.0.1", "::7f00:1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1"):
        assert "private network" in _error(fetcher, f"http://[{carried}]:9/feed.xml")
    assert "private network" in _error(fetcher, "http://[2002:7f00:1::]:9/feed.xml")  # 6to4
    assert len(web.requests) == before  # refused before anything was sent


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("127.0.0.1", False),
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::808:808", False),  # IPv4-compatible: deprecated, never public
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", False),
        ("2002:c0a8:101::", False),  # 6to4 of 192.168.1.1
        ("::ffff:10.0.0.1", False),
    ],
)
def test_an_address_is_public_only_with_every_ipv4_it_carries(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a", "gopher://x/"])
def test_only_http_and_https(url: str) -> None:
    assert "only http and https" in _error(Fetcher(get_settings()), url)


def test_user_agent_and_conditional_get(web: WebServer) -> None:
    fetcher = Fetcher(get_settings())
    first = fetcher.get(web.url("/page"))
    assert (first.status, first.etag, b"hello" in first.body) == (200, '"v1"', True)
    again = fetcher.get(web.url("/page"), etag=first.etag)
    assert again.not_modified and again.body == b""
    path, headers = web.requests[-1]
    assert path == "/page" and headers["If-None-Match"] == '"v1"'
    assert headers["User-Agent"] == get_settings().user_agent


def test_robots_disallow_is_respected_and_read_once(web: WebServer) -> None:
    fetcher = Fetcher(get_settings())
    robots = web.hits("/robots.txt")
    assert "robots.txt" in _error(fetcher, web.url("/private/page"))
    fetcher.get(web.url("/page"))
    assert web.hits("/private/page") == 0
    assert web.hits("/robots.txt") == robots + 1


def test_redirects_followed_and_capped(web: WebServer) -> None:
    fetcher = Fetcher(get_settings())
    assert fetcher.get(web.url("/hop")).url == web.url("/page")
    before = web.hits("/loop")
    assert "more than 5 redirects" in _error(fetcher, web.url("/loop"))
    assert web.hits("/loop") - before == 6


def test_a_50_mb_page_is_refused_without_being_read(web: WebServer) -> None:
    started = time.monotonic()
    assert "over the size limit" in _error(Fetcher(get_settings()), web.url("/big"))
    assert time.monotonic() - started < 5


def test_a_slow_page_times_out_in_about_the_read_timeout(web: WebServer) -> None:
    started = time.monotonic()
    assert "timed out" in _error(Fetcher(get_settings()), web.url("/slow"))
    assert 0.9 < time.monotonic() - started < 2.5


def test_a_pdf_is_refused_when_pages_are_asked_for(web: WebServer) -> None:
    message = _error(Fetcher(get_settings()), web.url("/doc.pdf"), kinds=frozenset({"text/html"}))
    assert "not an HTML page (application/pdf)" in message


def test_requests_to_one_host_are_spaced(web: WebServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_FETCH_HOST_DELAY", "0.4")
    get_settings.cache_clear()
    fetcher = Fetcher(get_settings())
    fetcher.get(web.url("/page"))  # reads robots.txt first: two requests
    started = time.monotonic()
    fetcher.get(web.url("/page"))
    fetcher.get(web.url("/page"))
    assert time.monotonic() - started >= 0.8


def test_an_unreachable_host_backs_off_without_being_asked_again() -> None:
    fetcher = Fetcher(get_settings())
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    assert "cannot connect" in _error(fetcher, url)
    started = time.monotonic()
    assert "failed 1 times in a row; next try in" in _error(fetcher, url)
    assert time.monotonic() - started < 0.1


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff_seconds(n, 60, 3600) for n in range(0, 9)]
    assert waits == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
