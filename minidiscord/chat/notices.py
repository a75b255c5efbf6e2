"""System lines: what the server tells one client that cannot read acks, as a message.

The original React front end sends without an ack callback and shows only `message:channel`
events (a message whose username is "System" it draws without author or avatar), so a
refusal it cannot read in an ack reaches its user this way, in the channel they wrote to,
on their connection alone. Never stored, never broadcast: each line is for one reader.
"""

import itertools
from datetime import UTC, datetime
from typing import Any, Final

SYSTEM_NAME: Final = "System"
# Not a user id the store gives out (those are hex), so no one's messages are confused with it.
SYSTEM_USER_ID: Final = "system"
# How much of a refused message the line quotes: enough to know which one it was.
QUOTED_CHARS: Final = 60

# Ids no stored message has (those are integers), unique for the life of the process.
_ids = itertools.count(1)


def system_message(text: str, timestamp: int) -> dict[str, Any]:
    """The `message:channel` object of a System line (the message wire shape)."""
    return {
        "id": f"system-{next(_ids)}",
        "userId": SYSTEM_USER_ID,
        "username": SYSTEM_NAME,
        "timestamp": timestamp,
        "message": text,
    }


def not_sent(text: object, reason: str) -> str:
    """The line telling a sender their message was not sent, and why (the reason says when
    to retry, if a limit refused it)."""
    return f"Your message {_quoted(text)}was not sent: {reason}."


def clock_time(ms: int) -> str:
    """A wall-clock time (ms since the epoch) as people read it: UTC, to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def not_joined(reason: str) -> str:
    """The line a client turned away at connect reads in every channel."""
    return f"You have not joined the chat: {reason}. Press Leave Server to go back and try again."


def not_left(reason: str) -> str:
    return f"You have not left the server: {reason}. Try Leave Server again."


def _quoted(text: object) -> str:
    """The start of what was sent, quoted and followed by a space, or nothing if it was
    not text or only spaces."""
    if not isinstance(text, str) or not text.strip():
        return ""
    # One line, and none of what made a message refusable (controls, lone surrogates).
    shown = "".join(char for char in " ".join(text.split()) if char.isprintable())
    if not shown:
        return ""
    if len(shown) > QUOTED_CHARS:
        shown = shown[:QUOTED_CHARS].rstrip() + "…"
    return f"“{shown}” "
