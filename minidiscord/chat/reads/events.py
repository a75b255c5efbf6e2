"""The read positions' events (additive, acked ``{ok, ...}``):

    read:mark  {channel, id}   the user has read ``channel`` up to message ``id``: stored
                               (never moving back), and every tab of the user, on every
                               node, gets `read` {channel, id} (the position now stored)
    read:list  ({}?)           {ok, reads: {channel: id}}: the user's positions, which a
                               client asks for after its greeting (the original client
                               never asks, so it sees nothing new)

Whoever asks is the socket's user; a channel is checked as a message's is (the one channel
check), and an id must be a message id the server has shown (at most the newest).
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Namespace, Socket

from ..live.access import allowed
from ..models import User
from ..moderation.effects import Do
from ..requests import Ack, Refused, guarded, is_int, within_rate
from ..store.base import StoreWriteError
from .store import ReadStore

log = logging.getLogger(__name__)

EFFECT = Do.READ.value
# A user's marks: a client marks once a second at most per channel it reads; the burst
# covers switching through channels.
MARK_RATE = Rate(burst=20, per_second=4.0)


class ReadEvents:
    def __init__(
        self,
        store: ReadStore,
        *,
        newest: Callable[[], int | None],
        share: Callable[[dict[str, Any]], Awaitable[None]],
        readable: Callable[[str, object], str],
    ) -> None:
        """``newest``: the newest message id the chat has shown; ``share``: apply an effect
        on every node (the chat's moderate); ``readable``: the chat's one access check (the
        channel id if the user may read it, else Invalid)."""
        self._store = store
        self._readable = readable
        self._newest = newest
        self._share = share
        self._marks = KeyedBuckets(MARK_RATE)

    async def user_left(self, user_id: str) -> None:
        """A guest left: its read positions go with it."""
        try:
            await self._store.forget(user_id)
        except StoreWriteError as exc:
            log.warning("the read positions of user %s were kept: %s", user_id, exc)

    def handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "read:mark": guarded("read:mark", self._mark),
            "read:list": guarded("read:list", self._list, optional=True),
        }

    async def _mark(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        channel = self._readable(user.user_id, fields.get("channel"))
        message_id = fields.get("id")
        if not is_int(message_id) or message_id < 1:
            raise Refused("id must be a message's id")
        if message_id > (self._newest() or 0):
            raise Refused(f"there is no message {message_id} yet")
        within_rate(self._marks, user, "marking")
        position = await self._store.mark_read(user.user_id, channel, message_id)
        await self._share(
            {"do": EFFECT, "userId": user.user_id, "channel": channel, "id": position}
        )
        return {"ok": True, "id": position}

    async def _list(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        positions = await self._store.positions(user.user_id)
        return {
            "ok": True,
            "reads": {
                c: i for c, i in positions.items() if allowed(self._readable, user.user_id, c)
            },
        }


def deliver(namespace: Namespace, effect: Mapping[str, Any], room_of: Callable[[str], str]) -> None:
    """Apply a read effect on this node: `read` {channel, id} to the user's sockets here."""
    user_id, channel, position = effect.get("userId"), effect.get("channel"), effect.get("id")
    if isinstance(user_id, str) and isinstance(channel, str) and isinstance(position, int):
        namespace.to(room_of(user_id)).emit("read", {"channel": channel, "id": position})
