"""What a moderation or account change does to running servers' sockets (an effect), as
one JSON object every carrier shares: the server applying its own (one node), the cluster
log (every node), and the SQLite outbox a running server polls for the command line's.

Effects name users and login sessions, never credentials: a login session is named by its
token's SHA-256 (what the stores key it by), not by the token.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Protocol

from ..models import Role, User

Effect = dict[str, Any]


class Do(StrEnum):
    """An effect's ``do``."""

    DELETE = "delete"  # {channel, id}: the message disappears for everyone
    KICK = "kick"  # {userId}: every tab of the user is let go
    TIMEOUT = "timeout"  # {userId, until}: the user may not send until then (ms)
    ROLE = "role"  # {userId, role}: its tabs speak with it; everyone is told
    LOGOUT = "logout"  # {sessions: [hex digest]}: the tabs of those login sessions end
    FORGET = "forget"  # {users: [{userId, username}]}: removed users leave every list
    EDIT = "edit"  # {channel, id, message, editedAt}: a message's new text (chat/edits.py)
    REACT = "react"  # {channel, id, reactions}: a message's reactions now (chat/reactions/)
    MENTION = "mention"  # {channel, message, userIds}: the mentioned users' tabs are told
    TYPING = "typing"  # {channel, source, ...}: who types where (chat/live/)
    READ = "read"  # {userId, channel, id}: the user's read position moved (chat/reads/)
    CHANNEL = "channel"  # {channel}: a channel created or changed (chat/channels/)
    DM = "dm"  # {conversation}: a direct conversation opened (chat/channels/)


def deleted(channel: str, message_id: int) -> Effect:
    return {"do": Do.DELETE.value, "channel": channel, "id": message_id}


def kicked(user_id: str) -> Effect:
    return {"do": Do.KICK.value, "userId": user_id}


def timed_out(user_id: str, until: int) -> Effect:
    return {"do": Do.TIMEOUT.value, "userId": user_id, "until": until}


def role_changed(user_id: str, role: Role) -> Effect:
    return {"do": Do.ROLE.value, "userId": user_id, "role": role.value}


def logged_out(digests: Iterable[bytes]) -> Effect:
    return {"do": Do.LOGOUT.value, "sessions": sorted(d.hex() for d in digests)}


def forgotten(users: Iterable[User]) -> Effect:
    return {
        "do": Do.FORGET.value,
        "users": [{"userId": u.user_id, "username": u.username} for u in users],
    }


class Outbox(Protocol):
    """Where an effect made outside a running server (``minidiscord admin``) is put for
    the running servers to apply: the cluster log on Redis, the outbox table on SQLite."""

    async def publish(self, effect: Effect) -> None:
        """Raises StoreWriteError when it could not be put."""
        ...
