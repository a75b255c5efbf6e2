"""Rules for what clients send: usernames, avatars, message text, channel names.

Pure functions: each returns the normalized value or raises `Invalid` whose `reason` is a
sentence the client is shown (in a CONNECT_ERROR or an ack), so it says what to fix.
"""

import secrets
import unicodedata
from collections.abc import Callable

from .models import CHANNELS

MAX_USERNAME = 32
MAX_MESSAGE = 2000
MAX_AVATAR = 512
# Names a user may not take because the server or clients speak under them.
RESERVED_USERNAMES = frozenset({"system"})
# Cc: C0/C1 controls; Zl/Zp: line and paragraph separators, which break one-line names.
_NAME_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Multi-line messages are normal chat; other control characters are never typed.
_MESSAGE_ALLOWED_CONTROLS = frozenset("\n\r\t")


class Invalid(ValueError):
    """Client input broke a rule; `reason` tells the client which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def anonymous_username() -> str:
    return f"anonymous_{secrets.token_hex(4)}"


def username(raw: object, *, fallback: Callable[[], str] = anonymous_username) -> str:
    """A username from handshake auth: missing or blank gets an anonymous one."""
    if raw is None:
        return fallback()
    if not isinstance(raw, str):
        raise Invalid("username must be a string")
    name = raw.strip()
    if not name:
        return fallback()
    if len(name) > MAX_USERNAME:
        raise Invalid(f"username is too long ({len(name)} characters, at most {MAX_USERNAME})")
    if any(unicodedata.category(char) in _NAME_FORBIDDEN_CATEGORIES for char in name):
        raise Invalid("username may not contain control characters or line breaks")
    if name.casefold() in RESERVED_USERNAMES:
        raise Invalid(f"username {name!r} is reserved")
    return name


def avatar(raw: object) -> str | None:
    """An optional avatar (an image URL or a client-side avatar name) from handshake auth."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Invalid("avatar must be a string")
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_AVATAR:
        raise Invalid(f"avatar is too long ({len(value)} characters, at most {MAX_AVATAR})")
    if any(unicodedata.category(char) in _NAME_FORBIDDEN_CATEGORIES for char in value):
        raise Invalid("avatar may not contain control characters")
    return value


def message_text(raw: object) -> str:
    """The text of a chat message: trimmed, 1 to MAX_MESSAGE characters."""
    if not isinstance(raw, str):
        raise Invalid(f"message must be a string, not {_json_type(raw)}")
    text = raw.strip()
    if not text:
        raise Invalid("message is empty")
    if len(text) > MAX_MESSAGE:
        raise Invalid(f"message is too long ({len(text)} characters, at most {MAX_MESSAGE})")
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and char not in _MESSAGE_ALLOWED_CONTROLS:
            raise Invalid("message may not contain control characters")
        if category == "Cs":
            # A lone UTF-16 surrogate (JSON "\\ud800"): not text, and no store can keep it.
            raise Invalid("message contains an unpaired surrogate (invalid Unicode)")
    return text


def channel(raw: object) -> str:
    """One of the server's channels."""
    if not isinstance(raw, str):
        raise Invalid(f"channel must be a string, not {_json_type(raw)}")
    if raw not in CHANNELS:
        # Bounded echo: the name is the client's own input and may be huge.
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise Invalid(f"unknown channel {shown!r}; channels are {', '.join(CHANNELS)}")
    return raw


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, as the client would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return type(value).__name__
