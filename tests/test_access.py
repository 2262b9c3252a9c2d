"""Who may open the browser chat: the login rule (ui/access.py) for each case, and
``python app.py`` refusing a half-set login before it indexes or serves anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from index.errors import InvalidInput
from settings import Settings
from tests.conftest import ROOT
from ui.access import is_loopback, login


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("LocalHost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _settings(
    host: str = "127.0.0.1", user: str = "", password: str = "", allow_anonymous: bool = False
) -> Settings:
    return Settings(
        host=host,
        ui_user=user,
        ui_password=SecretStr(password),
        allow_anonymous=allow_anonymous,
    )


def test_loopback_without_a_login_is_open_and_a_full_login_is_used() -> None:
    assert login(_settings()) is None
    assert login(_settings(user="editor", password="s3cret")) == ("editor", "s3cret")
    assert login(_settings("0.0.0.0", "editor", "s3cret")) == ("editor", "s3cret")


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [
        ("editor", "", "NEWSQA_UI_USER is set but NEWSQA_UI_PASSWORD is not"),
        ("", "s3cret", "NEWSQA_UI_PASSWORD is set but NEWSQA_UI_USER is not"),
    ],
)
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_half_a_login_is_refused_naming_what_is_missing(
    host: str, user: str, password: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        login(_settings(host, user, password))
    with pytest.raises(InvalidInput, match=message):  # allowing anonymous use does not help
        login(_settings(host, user, password, allow_anonymous=True))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "newsqa.example.com"])
def test_an_open_host_needs_a_login_or_an_explicit_anonymous(host: str) -> None:
    with pytest.raises(InvalidInput, match=f"NEWSQA_HOST={host} .*no login.*ALLOW_ANONYMOUS=true"):
        login(_settings(host))
    assert login(_settings(host, allow_anonymous=True)) is None


def test_anonymous_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_HOST", "0.0.0.0")
    monkeypatch.setenv("NEWSQA_ALLOW_ANONYMOUS", "true")
    for name in ("NEWSQA_UI_USER", "NEWSQA_UI_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert login(Settings()) is None
    monkeypatch.setenv("NEWSQA_ALLOW_ANONYMOUS", "false")
    with pytest.raises(InvalidInput):
        login(Settings())


@pytest.mark.slow
def test_app_with_half_a_login_exits_2_before_indexing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    environ = {**os.environ, "NEWSQA_DATA_DIR": str(data), "NEWSQA_UI_USER": "editor"}
    for name in ("NEWSQA_UI_PASSWORD", "NEWSQA_HOST", "NEWSQA_ALLOW_ANONYMOUS"):
        environ.pop(name, None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: NEWSQA_UI_USER is set but NEWSQA_UI_PASSWORD is not: "
        "set both to require a login, or neither"
    )
    assert not data.exists()  # no store, no collection, no samples indexed
    print(f"app.py refused in {seconds:.1f} s")
