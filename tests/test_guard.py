"""The guard in front of every route: which Host and Origin headers are this server's,
and how failed logins slow a guesser down (a fake clock: no waiting)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from assistant.guard import (
    FORGET_AFTER_S,
    FREE_FAILURES,
    MAX_WAIT_S,
    Hosts,
    LoginThrottle,
    host_name,
    host_warning,
)
from settings import Settings


def _hosts(host: str = "127.0.0.1", allowed_hosts: str = "") -> Hosts:
    return Hosts(Settings(host=host, allowed_hosts=allowed_hosts))


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:7860", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:7860", "::1"),
        ("[::1]", "::1"),
        ("news.example.org:443", "news.example.org"),
        ("", None),
        ("a b", None),
        ("evil.example/x", None),
    ],
)
def test_host_headers_are_read_as_names(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_loopback_names_and_addresses_are_allowed_by_default_and_names_only_when_listed() -> None:
    hosts = _hosts()
    for name in ("localhost", "127.0.0.1", "127.0.0.5", "::1", "192.168.1.20", "2001:db8::1"):
        assert hosts.allows(name), name
    for refused in ("evil.example", "localhost.evil.example", "news.example.org", None, ""):
        assert not hosts.allows(refused), refused
    listed = _hosts(allowed_hosts="news.example.org, *.example.net")
    assert listed.allows("news.example.org") and listed.allows("a.b.example.net")
    assert not listed.allows("example.net") and not listed.allows("news.example.org.evil")
    assert _hosts(host="newsbox.internal").allows("newsbox.internal")
    assert _hosts(allowed_hosts="*").allows("anything.example")


def test_a_foreign_origin_is_refused_even_with_the_servers_own_host() -> None:
    hosts = _hosts()
    own = {"host": "127.0.0.1:7860"}
    assert hosts.allows_request(Headers(own))
    assert hosts.allows_request(Headers({**own, "origin": "http://localhost:7860"}))
    assert not hosts.allows_request(Headers({**own, "origin": "http://evil.example"}))
    assert not hosts.allows_request(Headers({**own, "origin": "null"}))
    assert not hosts.allows_request(Headers({"host": "evil.example"}))


def test_listening_everywhere_without_allowed_names_is_warned_about() -> None:
    assert host_warning(Settings(host="127.0.0.1", allowed_hosts="")) is None
    assert "NEWSQA_ALLOWED_HOSTS" in str(host_warning(Settings(host="0.0.0.0", allowed_hosts="")))
    assert host_warning(Settings(host="0.0.0.0", allowed_hosts="news.example.org")) is None


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_make_the_next_attempt_wait_longer_up_to_a_cap() -> None:
    clock = _Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES):
        assert throttle.wait("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    waits = []
    for _ in range(10):
        waits.append(throttle.wait("10.0.0.1"))
        clock.now += waits[-1]
        throttle.failed("10.0.0.1")
    assert waits == [1, 2, 4, 8, 16, 32, MAX_WAIT_S, MAX_WAIT_S, MAX_WAIT_S, MAX_WAIT_S]
    assert throttle.wait("10.0.0.2") == 0  # per address


def test_the_count_is_forgotten_after_a_while_or_at_a_success() -> None:
    clock = _Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 3):
        throttle.failed("a")
        throttle.failed("b")
    assert throttle.wait("a") > 0 and throttle.wait("b") > 0
    throttle.succeeded("a")
    assert throttle.wait("a") == 0
    clock.now += FORGET_AFTER_S + 1
    assert throttle.wait("b") == 0
    throttle.failed("b")
    assert throttle.wait("b") == 0  # counting again from one
