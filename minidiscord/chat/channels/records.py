"""What a channel and a direct conversation are, their ids, and the rules for their names.

A channel is its string id on the wire (``message:channel:send``'s first argument, history,
every event that names a message). The original five are their own ids; a created channel
gets ``c:`` and random hex (a rename keeps its id, so nothing keyed by it moves); a direct
conversation is ``dm:`` and its two members' user ids in order, so the id itself says who
may read it.
"""

import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from ..models import CHANNELS
from ..validation import Invalid, message_text

CREATED_PREFIX: Final = "c:"
DM_PREFIX: Final = "dm:"
MAX_NAME: Final = 32
MAX_TOPIC: Final = 200
# ASCII letters, digits, "-" and "_": a name is read aloud and typed by everyone, and no
# look-alike or invisible character can make two names seem one.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*", re.ASCII)


@dataclass(frozen=True, slots=True)
class Channel:
    """A public channel: one of the original five or one a moderator created."""

    id: str
    name: str
    topic: str = ""
    archived: bool = False
    created: int = 0

    @property
    def original(self) -> bool:
        return self.id in CHANNELS

    @property
    def name_key(self) -> str:
        """What makes two names the same one (case does not)."""
        return self.name.lower()

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "topic": self.topic, "archived": self.archived}


@dataclass(frozen=True, slots=True)
class Conversation:
    """A direct conversation: its members are fixed (its id names them)."""

    id: str
    members: tuple[str, str]
    created: int = 0

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "members": list(self.members)}


ORIGINALS: Final = tuple(Channel(name, name) for name in CHANNELS)


class NameTaken(Invalid):
    """Another channel has this name (case-insensitively): the asker's to change."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a channel named {name!r} exists already")


def new_channel_id() -> str:
    return CREATED_PREFIX + secrets.token_hex(6)


def conversation(a: str, b: str, *, created: int = 0) -> Conversation:
    """The conversation between users ``a`` and ``b`` (the same whoever opens it)."""
    first, second = sorted((a, b))
    return Conversation(f"{DM_PREFIX}{first}:{second}", (first, second), created)


def members_of(channel_id: str) -> tuple[str, str] | None:
    """The two members a conversation id names, or None for any other id."""
    if not channel_id.startswith(DM_PREFIX):
        return None
    parts = channel_id[len(DM_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts) or parts[0] >= parts[1]:
        return None
    return parts[0], parts[1]


def checked_name(raw: object) -> str:
    if not isinstance(raw, str):
        raise Invalid("name must be a string")
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid(f"name must be 1 to {MAX_NAME} characters")
    if _NAME.fullmatch(name) is None:
        raise Invalid("name may hold only letters a-z, digits, '-' and '_' (not first)")
    if name.lower() in CHANNELS:
        raise NameTaken(name)
    return name


def checked_topic(raw: object) -> str:
    """A topic: trimmed text (no control characters), up to MAX_TOPIC; empty clears it."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    # One line: a topic sits in the channel's header.
    topic = " ".join(message_text(raw).split())
    if len(topic) > MAX_TOPIC:
        raise Invalid(f"topic is too long ({len(topic)} characters, at most {MAX_TOPIC})")
    return topic
