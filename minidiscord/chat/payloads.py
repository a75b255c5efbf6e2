"""The `users` and `channels` payloads of a connect, encoded once per change rather than
once per connect.

Each is handed to ``emit`` as an :class:`~minidiscord.sockets.Encoded` value, which the
packet encoder writes as is (with each packet's own recovery offset) without walking it, so
the client receives the same bytes as from encoding the plain list. In a connect storm the
`users` list changes with every join, so its unit of reuse is one user's entry (encoded
again only when that user or their `connected` changes); the `channels` payload is one
value per snapshot read and visible position, shared by the connects that share the read.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from minidiscord.sockets import Encoded

from .models import CHANNELS, Message, User


class UsersPayload:
    """`users` lists, from each user's cached entry."""

    def __init__(self) -> None:
        # userId -> (the user, connected, its encoded entry).
        self._entries: dict[str, tuple[User, bool, bytes]] = {}

    def encode(self, users: Sequence[User], online: Mapping[str, User]) -> Encoded:
        """``users`` (in the order given), each connected when in ``online``."""
        entries = self._entries
        parts = []
        for user in users:
            connected = user.user_id in online
            entry = entries.get(user.user_id)
            # Mostly the very same User object as last time: the identity check is cheap.
            if (
                entry is None
                or entry[1] is not connected
                or (entry[0] is not user and (entry[0] != user or entry[0].role is not user.role))
            ):
                wire = user.presence_wire(connected=connected)
                entry = (user, connected, Encoded.of(wire).json)
                entries[user.user_id] = entry
            parts.append(entry[2])
        if len(entries) > 2 * len(parts) + 1000:
            # Users no longer listed (left, or past the offline cut): keep memory bounded.
            self._entries = {u.user_id: entries[u.user_id] for u in users}
        return Encoded(b"[" + b",".join(parts) + b"]")


class ChannelsPayload:
    """The `channels` payload, kept for the last (snapshot messages, positions) it was
    made for."""

    def __init__(self) -> None:
        self._key: tuple[Any, int, int | None] | None = None
        self._value: Encoded | None = None

    def encode(
        self,
        history: Callable[[], Mapping[str, list[Message]]],
        *,
        read: object,
        last_id: int,
        visible: int | None,
    ) -> Encoded:
        """The payload of the channels' ``history()``, which is determined by the
        snapshot's messages (the object ``read``), its ``last_id`` and the visible position:
        made again only when one of them changed."""
        key = (read, last_id, visible)
        value = self._value
        if value is None or self._key is None or not _same(self._key, key):
            made = history()
            value = Encoded.of(
                [{"name": name, "messages": [m.wire() for m in made[name]]} for name in CHANNELS]
            )
            self._key, self._value = key, value
        return value

    def forget(self) -> None:
        """The recent broadcasts behind the history were dropped (a resync)."""
        self._key = self._value = None


def _same(a: tuple[Any, int, int | None], b: tuple[Any, int, int | None]) -> bool:
    # The read by identity: two reads' messages may be equal yet differ from what each
    # connect's history was made of (the recent broadcasts added to them).
    return a[0] is b[0] and a[1] == b[1] and a[2] == b[2]
