"""Who may open the browser chat: the login from settings, checked before anything starts.

A half-set login (user without password, or the reverse) or a chat listening beyond
this machine without one is refused with one line naming what to set, so the chat is
never open by accident. Gradio does the logging in; ``ApiInfoBehindLogin`` keeps the
description of the page's API (its endpoints and their parameters, which Gradio embeds
in the login page too) for those who have logged in.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.errors import InvalidInput
from settings import Settings

# Gradio's page template: the config script, then the API description's script.
_LOGIN_PAGE = b'"auth_required":true'
_API_INFO = re.compile(rb"(window\.gradio_api_info\s*=\s*).*?(;\s*</script>)", re.DOTALL)
_NO_API_INFO = rb'\1{"named_endpoints": {}, "unnamed_endpoints": {}}\2'


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: addresses only this machine reaches."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a host name: it may resolve to anything
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def login(settings: Settings) -> tuple[str, str] | None:
    """The (user, password) Gradio should ask for, or None for an open chat.

    Raises ``InvalidInput`` when only one of the two is set, or when the host is not
    loopback and there is no login and ``NEWSQA_ALLOW_ANONYMOUS`` is not true.
    """
    user, password = settings.ui_user, settings.ui_password.get_secret_value()
    if bool(user) != bool(password):
        names = ("NEWSQA_UI_USER", "NEWSQA_UI_PASSWORD")
        have, missing = names if user else names[::-1]
        raise InvalidInput(
            f"{have} is set but {missing} is not: set both to require a login, or neither"
        )
    if user:
        return user, password
    if not is_loopback(settings.host) and not settings.allow_anonymous:
        raise InvalidInput(
            f"NEWSQA_HOST={settings.host} lets other machines open the chat and there is no "
            "login: set NEWSQA_UI_USER and NEWSQA_UI_PASSWORD, or NEWSQA_ALLOW_ANONYMOUS=true "
            "to open it to anyone on purpose"
        )
    return None


class ApiInfoBehindLogin:
    """ASGI middleware: the page Gradio serves to someone not logged in (its login form)
    carries no API description. Only GET of HTML pages is looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def sending(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    await send(message)  # not a page: passed on as it comes
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            page = bytes(body)
            if _LOGIN_PAGE in page:
                page = _API_INFO.sub(_NO_API_INFO, page)
            kept = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            kept.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": kept})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, sending)
