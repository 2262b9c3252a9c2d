"""A polite HTTP client for feeds and article pages.

:class:`Fetcher` asks for one URL at a time per host and says who it is (the
``user_agent`` setting); it honours robots.txt (protego), waits ``fetch_host_delay``
seconds (or the site's Crawl-delay, if longer) between two requests to a host, sends
the ETag / Last-Modified it was given so an unchanged feed costs a 304, follows at most
``fetch_max_redirects`` redirects, reads at most ``fetch_max_bytes`` of a body (streamed:
a 50 MB page is refused without being held) within ``fetch_total_timeout``, and speaks
http and https only. Every address a URL resolves to must be public unless
``fetch_allow_private`` is set, so a feed URL cannot probe the server's own network; the
check is made on every redirect hop. A host that cannot be connected to backs off
(exponentially, capped) so it never holds up the others. Every problem is a
:class:`FetchError` that names the URL.

It leaves out what the bytes mean (``feeds.py``, ``pages.py``) and the per-feed backoff
that survives restarts (``feed_store.py``). It does not pin the resolved address for
the connection itself, so a DNS answer that changes between the check and the connect
(rebinding) is not caught.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from index.errors import NewsqaError
from settings import Settings

_ROBOTS_MAX_BYTES = 512_000
_ROBOTS_TTL = 3600.0  # seconds a host's robots.txt is trusted before it is read again
_ROBOTS_RETRY = 300.0  # after a server error on robots.txt
_MAX_CRAWL_DELAY = 60.0  # a site asking for more is asked this often
_HOST_BACKOFF_BASE = 30.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(NewsqaError):
    """A URL could not be fetched: refused, unreachable, an HTTP error, too big, too slow."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Fetched:
    url: str  # where the body came from, after redirects
    status: int  # 200 or 304
    body: bytes
    content_type: str  # media type, lower case, no parameters ("" if none given)
    charset: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """How long to leave something alone after ``failures`` failures in a row."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(failures - 1, 30)))


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, RFC
# 8215) and the deprecated IPv4-compatible form (::a.b.c.d).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global address, and so is every IPv4 address it carries: ``::ffff:127.0.0.1``,
    ``::7f00:1``, ``64:ff9b::7f00:1``, ``2002:7f00:1::`` (6to4) and Teredo's client all
    reach 127.0.0.1 or a private network through a translator or tunnel."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    if address in _IPV4_COMPATIBLE:
        return False  # deprecated since 2006: nothing public is reached this way
    carried = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        carried.append(address.teredo[1])
    if any(address in network for network in _NAT64):
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(v4.is_global for v4 in carried if v4 is not None)


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Refuse what is not http(s) or, unless allowed, resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(url, f"only http and https URLs are fetched, not {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as error:
        raise FetchError(url, f"cannot resolve {parts.hostname}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public(address):
            raise FetchError(
                url,
                f"{parts.hostname} is on a loopback or private network ({address}); "
                "set NEWSQA_FETCH_ALLOW_PRIVATE=1 to fetch from it",
            )


class Fetcher:
    """One per process or watch loop: it keeps the robots.txt, delays and backoffs
    of the hosts it has met. Safe to use from several threads."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        timeout = httpx.Timeout(settings.fetch_read_timeout, connect=settings.fetch_connect_timeout)
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # each hop is checked here
            headers={"User-Agent": settings.user_agent},
            transport=transport,
            trust_env=False,  # no proxy from the environment sees our requests
        )
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, tuple[float, Protego | None]] = {}
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    def close(self) -> None:
        self.client.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        kinds: frozenset[str] | None = None,
    ) -> Fetched:
        """The body at ``url`` (or a 304 when ``etag``/``last_modified`` still hold).
        With ``kinds``, a body of another media type is refused before it is read."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _ in range(self.settings.fetch_max_redirects + 1):
            self.check_url(current)
            self._check_robots(current)
            result = self._request(current, headers, kinds)
            if isinstance(result, Fetched):
                return result
            current = result
        raise FetchError(url, f"more than {self.settings.fetch_max_redirects} redirects")

    def check_url(self, url: str) -> None:
        check_url(url, allow_private=self.settings.fetch_allow_private)

    # -- robots.txt -------------------------------------------------------------

    def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.path == "/robots.txt":
            return
        try:
            robots = self._robots_for(f"{parts.scheme}://{parts.netloc}")
        except FetchError as error:  # said of the URL asked for, not of robots.txt
            raise FetchError(url, error.reason) from None
        if robots is None:
            raise FetchError(url, "robots.txt of the site cannot be read (server error)")
        if not robots.can_fetch(url, self.settings.user_agent):
            raise FetchError(url, "disallowed by the site's robots.txt")

    def _robots_for(self, origin: str) -> Protego | None:
        """The site's rules; None while it answers robots.txt with a server error
        (RFC 9309: then assume everything is disallowed, and ask again soon). A site
        that cannot be reached at all is that FetchError."""
        with self._lock:
            cached = self._robots.get(origin)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        robots: Protego | None
        ttl = _ROBOTS_TTL
        try:
            fetched = self.get(f"{origin}/robots.txt")
            robots = Protego.parse(fetched.body[:_ROBOTS_MAX_BYTES].decode("utf-8", "replace"))
        except FetchError as error:
            if error.reason.startswith("HTTP 4"):  # no rules: everything allowed
                robots = Protego.parse("")
            elif error.reason.startswith("HTTP 5"):
                robots, ttl = None, _ROBOTS_RETRY
            else:
                raise FetchError(error.url, f"robots.txt: {error.reason}") from None
        with self._lock:
            self._robots[origin] = (time.monotonic() + ttl, robots)
        return robots

    def _host_delay(self, netloc: str) -> float:
        delay = self.settings.fetch_host_delay
        cached = self._robots.get(f"http://{netloc}") or self._robots.get(f"https://{netloc}")
        if cached is not None and cached[1] is not None:
            asked = cached[1].crawl_delay(self.settings.user_agent)
            if asked:
                delay = max(delay, min(float(asked), _MAX_CRAWL_DELAY))
        return delay

    # -- one request ------------------------------------------------------------

    @contextmanager
    def _turn(self, url: str, netloc: str) -> Iterator[None]:
        """Hold the host: one request at a time, the delay since the last one kept."""
        with self._lock:
            lock = self._host_locks.setdefault(netloc, threading.Lock())
            retry_at = self._retry_at.get(netloc, 0.0)
        if retry_at > time.monotonic():
            failures = self._failures.get(netloc, 0)
            wait = retry_at - time.monotonic()
            raise FetchError(
                url, f"{netloc} failed {failures} times in a row; next try in {wait:.0f} s"
            )
        with lock:
            wait = self._last_request.get(netloc, 0.0) + self._host_delay(netloc)
            pause = wait - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                yield
            finally:
                self._last_request[netloc] = time.monotonic()

    def _request(
        self, url: str, headers: dict[str, str], kinds: frozenset[str] | None
    ) -> Fetched | str:
        """The response, or the next URL when it is a redirect."""
        netloc = urlsplit(url).netloc
        with self._turn(url, netloc):
            try:
                with self.client.stream("GET", url, headers=headers) as response:
                    result = self._response(url, response, kinds)
            except httpx.ConnectError as error:
                self._host_failed(netloc)
                raise FetchError(url, f"cannot connect: {error}") from None
            except httpx.ConnectTimeout:
                self._host_failed(netloc)
                raise FetchError(url, "timed out connecting") from None
            except httpx.TimeoutException:
                raise FetchError(url, "timed out reading the response") from None
            except httpx.HTTPError as error:
                raise FetchError(url, f"HTTP failure: {error}") from None
        with self._lock:
            self._failures.pop(netloc, None)
            self._retry_at.pop(netloc, None)
        return result

    def _host_failed(self, netloc: str) -> None:
        with self._lock:
            failures = self._failures.get(netloc, 0) + 1
            self._failures[netloc] = failures
            wait = backoff_seconds(failures, _HOST_BACKOFF_BASE, self.settings.feed_backoff_max)
            self._retry_at[netloc] = time.monotonic() + wait

    def _response(
        self, url: str, response: httpx.Response, kinds: frozenset[str] | None
    ) -> Fetched | str:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(url, f"HTTP {status} redirect without a Location")
            return urljoin(url, location)
        if status not in (200, 203, 304):
            raise FetchError(url, f"HTTP {status} {response.reason_phrase}".rstrip())
        kind, _, params = response.headers.get("content-type", "").partition(";")
        charset = None
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"' ")
        kind = kind.strip().lower()
        if kinds is not None and status != 304 and kind not in kinds:
            raise FetchError(url, f"not an HTML page ({kind})")
        return Fetched(
            url=url,
            status=status,
            body=b"" if status == 304 else self._body(url, response),
            content_type=kind,
            charset=charset,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    def _body(self, url: str, response: httpx.Response) -> bytes:
        cap = self.settings.fetch_max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"over the size limit ({int(declared):,} > {cap:,} bytes)")
        deadline = time.monotonic() + self.settings.fetch_total_timeout
        pieces, size = [], 0
        for piece in response.iter_bytes():  # decompressed: a gzip bomb meets the cap too
            size += len(piece)
            if size > cap:
                raise FetchError(url, f"over the size limit (more than {cap:,} bytes)")
            if time.monotonic() > deadline:
                raise FetchError(url, f"took over {self.settings.fetch_total_timeout:g} s")
            pieces.append(piece)
        return b"".join(pieces)
