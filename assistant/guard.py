"""What every HTTP request meets before any route runs: the Host allow-list and the
slowdown of login guessing.

- **Hosts.** A request is served only when its ``Host`` (and ``Origin``, when a browser
  sends one) names this server: ``localhost``, an IP address, ``NEWSQA_HOST``, or a name
  in ``NEWSQA_ALLOWED_HOSTS`` (``news.example.org``, ``*.example.org``; ``*`` turns the
  check off). Anything else gets a 400 and runs nothing, so a web page whose own name
  was made to resolve to 127.0.0.1 (DNS rebinding) cannot reach the chat, its uploads,
  ``/v1`` or ``/mcp``. An IP address is no such risk: a page loaded from it is already
  the server's own origin. MCP's own copy of
  this check is turned off in favour of this one (``mcp_security``): one rule for
  every route.
- **Login guessing.** A failed login (a wrong password on the page's ``/login``, a
  wrong key or password on ``/v1`` or ``/mcp``) counts against the client's address.
  After ``FREE_FAILURES`` of them the client must wait 1, 2, 4 ... up to
  ``MAX_WAIT_S`` seconds between two attempts; an attempt made sooner is answered 429
  with ``Retry-After`` and the password is not even looked at. The count is forgotten
  ``FORGET_AFTER_S`` after the last failure, or at the first success, so the real user
  is never locked out for longer than that.

Who may call once a request is in is ``api_access.py`` (the API) and Gradio's login
(the page); this module decides only whether a request reaches them.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from settings import Settings
from ui.access import is_loopback

FREE_FAILURES = 5
MAX_WAIT_S = 60.0
FORGET_AFTER_S = 15 * 60.0
_MAX_CLIENTS = 10_000  # addresses remembered at once; the oldest go first
_LOGIN_PATHS = ("/login", "/login/")  # Gradio's login form
_API_PREFIXES = ("/v1/", "/mcp")  # routes that check an Authorization header
_WILDCARD_ADDRESSES = {"", "0.0.0.0", "::", "[::]"}
_HOST_NAME = re.compile(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")


class Hosts:
    """The host names this server answers to (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        names = re.split(r"[,\s]+", settings.allowed_hosts.strip().lower())
        self.any = "*" in names
        self.names = {n.strip("[]") for n in names if n and not n.startswith("*")}
        self.domains = tuple(n[1:] for n in names if n.startswith("*."))
        if settings.host.strip().lower() not in _WILDCARD_ADDRESSES:
            self.names.add(settings.host.strip().lower().strip("[]"))

    def allows(self, name: str | None) -> bool:
        if self.any:
            return True
        if not name:
            return False
        return (
            is_loopback(name)
            or _is_address(name)
            or name in self.names
            or any(name.endswith(domain) for domain in self.domains)
        )

    def allows_request(self, headers: Headers) -> bool:
        if self.any:
            return True
        origin = headers.get("origin")
        if origin is not None and not self.allows(_origin_host(origin)):
            return False
        return self.allows(host_name(headers.get("host", "")))


def host_warning(settings: Settings) -> str | None:
    """What an operator listening on every address should be told at start: browsers
    reaching the server by its name are refused until that name is allowed."""
    if settings.host.strip().lower() in _WILDCARD_ADDRESSES and not settings.allowed_hosts:
        return (
            f"NEWSQA_HOST={settings.host} listens on every address, but requests naming the "
            "server by a host name other than localhost are refused: set "
            "NEWSQA_ALLOWED_HOSTS to the name clients use (news.example.org)"
        )
    return None


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, lowercased, without port or IPv6 brackets; None
    for a header that is no host name."""
    value = header.strip().lower()
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        value = name
    if not _HOST_NAME.fullmatch(value):
        return None
    return value.strip("[]")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin_host(origin: str) -> str | None:
    try:
        return urlsplit(origin.strip()).hostname
    except ValueError:
        return None


def mcp_security() -> TransportSecuritySettings:
    """MCP's DNS-rebinding check, off: ``Guard`` applies the same rule to every route,
    ``/mcp`` included, in front of it (MCP still requires JSON bodies)."""
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


class LoginThrottle:
    """Failed logins per client address, and how long each must wait before the next."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address: (count, last failure)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds before ``client`` may try again (0: now)."""
        with self._lock:
            count, last = self._current(client)
        if count < FREE_FAILURES:
            return 0.0
        delay = min(MAX_WAIT_S, 2.0 ** (count - FREE_FAILURES))
        return max(0.0, last + delay - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            count, _ = self._current(client)
            self._failures.pop(client, None)  # re-inserted last: the newest
            self._failures[client] = (count + 1, self.clock())
            if len(self._failures) > _MAX_CLIENTS:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _current(self, client: str) -> tuple[int, float]:
        count, last = self._failures.get(client, (0, 0.0))
        if count and self.clock() - last > FORGET_AFTER_S:
            del self._failures[client]
            return 0, 0.0
        return count, last


class Guard:
    """ASGI middleware: the Host allow-list, then the login throttle, then the app."""

    def __init__(
        self, app: ASGIApp, settings: Settings, throttle: LoginThrottle | None = None
    ) -> None:
        self.app = app
        self.hosts = Hosts(settings)
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self.hosts.allows_request(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            message = "this server does not answer to that Host (see NEWSQA_ALLOWED_HOSTS)"
            await _json(scope, receive, send, 400, message, "invalid_host")
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        login_form = method == "POST" and path in _LOGIN_PATHS
        keyed = "authorization" in headers and path.startswith(_API_PREFIXES)
        if not (login_form or keyed):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("",))[0]
        wait = self.throttle.wait(client)
        if wait > 0:
            message = f"too many failed logins from this address: try again in {wait:.0f} s"
            retry = {"retry-after": str(max(1, round(wait)))}
            await _json(scope, receive, send, 429, message, "too_many_failed_logins", retry)
            return
        status: list[int] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, sending)
        code = status[0] if status else 500
        if code == 401 or (login_form and code == 400):
            self.throttle.failed(client)
        elif 200 <= code < 300:
            self.throttle.succeeded(client)


async def _json(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> None:
    """A refusal both OpenAI clients (``error``) and Gradio's page (``detail``) show."""
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "code": code}, "detail": message}
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
