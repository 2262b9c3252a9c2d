"""Who may open the browser chat: the login from settings, checked before anything starts.

A half-set login (user without password, or the reverse) or a chat listening beyond
this machine without one is refused with one line naming what to set, so the chat is
never open by accident. It checks settings only: Gradio does the logging in.
"""

from __future__ import annotations

import ipaddress

from index.errors import InvalidInput
from settings import Settings


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
