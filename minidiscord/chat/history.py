"""`channel:history`: older pages of a channel the user may read, each costing its asker.

    channel:history  (channel, {before?, limit?})  {ok, messages} oldest first

A page is up to MAX_HISTORY_PAGE messages read and encoded; the same budget pays for the
other whole reads a client can ask for (``known_user``).
"""

import logging
from typing import Any

import trio

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Socket

from .channels.registry import ChannelRegistry, Need
from .models import User
from .reactions.history import with_reactions
from .reactions.store import ReactionStore
from .requests import Ack, Handler, is_int, rate_limited, refuse
from .store import Store
from .store.base import StoreReadError, StoreWriteError
from .validation import Invalid

log = logging.getLogger(__name__)

# Largest page a client may ask for with `channel:history`.
MAX_HISTORY_PAGE = 100


class HistoryEvents:
    def __init__(
        self,
        store: Store,
        channels: ChannelRegistry,
        reactions: ReactionStore,
        *,
        limit: int,
        rate: Rate | None,
    ) -> None:
        self._store = store
        self._channels = channels
        self._reactions = reactions
        self._limit = limit
        self._reads = KeyedBuckets(rate)

    def handlers(self) -> dict[str, Handler]:
        return {"channel:history": self._on_history}

    async def known_user(self, asker: str, user_id: str) -> bool:
        """Whether ``user_id`` is a user that has not left: one read of every user, which
        costs ``asker`` a history page's share of its budget (Invalid when spent)."""
        wait = self._reads.take(asker, trio.current_time())
        if wait:
            raise Invalid(f"you are asking too fast; try again in {wait:.1f} s")
        return any(user.user_id == user_id for user in await self._store.list_users())

    async def _on_history(self, socket: Socket, *args: Any) -> Ack:
        user: User | None = socket.data.get("user")
        if user is None:
            return refuse(socket, "channel:history", "not connected")
        if not 1 <= len(args) <= 2:
            return refuse(socket, "channel:history", "expected (channel, {before, limit})")
        # A page is up to MAX_HISTORY_PAGE messages read and encoded: it costs its asker.
        wait = self._reads.take(user.user_id, trio.current_time())
        if wait:
            return rate_limited(
                socket, "channel:history", wait, "you are asking for history too fast"
            )
        try:
            channel = await self._channels.usable(user.user_id, args[0], Need.READ)
        except Invalid as error:
            return refuse(socket, "channel:history", error.reason)
        except StoreWriteError as exc:
            log.warning("a channel for user %s's history was not stored: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not read the history now"}
        options = args[1] if len(args) == 2 and args[1] is not None else {}
        if not isinstance(options, dict):
            return refuse(socket, "channel:history", "options must be an object")
        limit = options.get("limit", self._limit)
        before = options.get("before")
        if not is_int(limit) or limit < 1:
            return refuse(socket, "channel:history", "limit must be a positive integer")
        if before is not None and not is_int(before):
            return refuse(socket, "channel:history", "before must be a message id")
        limit = min(limit, MAX_HISTORY_PAGE)
        try:
            if before is None:
                messages = await self._store.recent_messages(channel, limit)
            else:
                messages = await self._store.messages_before(channel, before, limit)
            messages = await with_reactions(self._reactions, messages)
        except StoreReadError as exc:
            log.warning("a history page for user %s was not read: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not read the history now"}
        return {"ok": True, "messages": [m.wire() for m in messages]}
