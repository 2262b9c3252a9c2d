"""Who may call the HTTP APIs (assistant/api_access.py), and which settings the protocol
server refuses to start with (assistant/server.py's ``check_access``)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import SecretStr

from assistant.api_access import is_authorized
from assistant.server import check_access
from index.errors import InvalidInput
from settings import Settings


def _settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"api_key": "", "ui_user": "", "ui_password": "", "host": "127.0.0.1"}
    return Settings(**{**base, **values})


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


KEYED = _settings(api_key=SecretStr("sekret"), ui_user="ann", ui_password=SecretStr("pw"))
LOGIN = _settings(ui_user="ann", ui_password=SecretStr("pw"))


@pytest.mark.parametrize(
    ("settings", "headers", "allowed"),
    [
        (_settings(), {}, True),  # loopback, nothing configured: open
        (_settings(), {"authorization": "Bearer anything"}, True),
        (KEYED, {"authorization": "Bearer sekret"}, True),
        (KEYED, {"authorization": "bearer  sekret "}, True),
        (KEYED, {"authorization": "Bearer wrong"}, False),
        (KEYED, {"authorization": "Bearer pw"}, False),  # the key, not the password
        (KEYED, _basic("ann", "pw"), False),
        (KEYED, {}, False),
        (LOGIN, {"authorization": "Bearer pw"}, True),
        (LOGIN, _basic("ann", "pw"), True),
        (LOGIN, _basic("bob", "pw"), False),
        (LOGIN, _basic("ann", "nope"), False),
        (LOGIN, {"authorization": "Basic not-base64!"}, False),
        (LOGIN, {"authorization": "Bearer "}, False),
        (LOGIN, {}, False),
    ],
)
def test_who_is_let_in(settings: Settings, headers: dict[str, str], allowed: bool) -> None:
    assert is_authorized(headers, settings) is allowed


def test_the_server_starts_only_when_it_is_not_open_by_accident() -> None:
    check_access(_settings())
    check_access(_settings(host="0.0.0.0", api_key=SecretStr("sekret")))
    check_access(_settings(host="0.0.0.0", ui_user="ann", ui_password=SecretStr("pw")))
    check_access(_settings(host="0.0.0.0", allow_anonymous=True))
    with pytest.raises(InvalidInput, match=r"NEWSQA_HOST=0\.0\.0\.0 .* set NEWSQA_API_KEY"):
        check_access(_settings(host="0.0.0.0"))
    with pytest.raises(InvalidInput, match="NEWSQA_UI_PASSWORD is not"):
        check_access(_settings(api_key=SecretStr("sekret"), ui_user="ann"))
