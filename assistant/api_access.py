"""Who may call the HTTP APIs (OpenAI-compatible and MCP): the key or login from settings.

- ``NEWSQA_API_KEY`` set: every request must send ``Authorization: Bearer KEY``.
- else a browser login (``NEWSQA_UI_USER`` + ``NEWSQA_UI_PASSWORD``): the password as
  the bearer key, or HTTP basic with user and password.
- else: no check (``ui/access.py`` allows that only on loopback, or when
  ``NEWSQA_ALLOW_ANONYMOUS`` opens it on purpose).

It checks one request's headers; the routes turn a refusal into their protocol's 401.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping

from settings import Settings


def is_authorized(headers: Mapping[str, str], settings: Settings) -> bool:
    key = settings.api_key.get_secret_value()
    user, password = settings.ui_user, settings.ui_password.get_secret_value()
    if not key and not (user and password):
        return True
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return _same(credentials, key or password)
    if scheme.lower() == "basic" and not key:
        try:
            pair = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given_user, _, given_password = pair.partition(":")
        return _same(given_user, user) & _same(given_password, password)
    return False


def _same(given: str, expected: str) -> bool:
    # Constant time: a key is not guessed a character at a time from response times.
    return secrets.compare_digest(given.encode(), expected.encode())
