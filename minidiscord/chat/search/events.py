"""The `search` event of the chat's "/" namespace (issue 18), acked ``{ok, ...}``:

    search  {query, channel?, before?, limit?}  answered {ok, results, next}: results
            [{channel, id, userId, username, timestamp, snippet}] newest first, over the
            channels the user may read (or the one named); ``next``: the ``before`` of the
            next page, or null when there is no more

A search costs what a history page does (the same rate, per user, in a bucket of its own).
"""

from typing import Any

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Socket

from ..channels.registry import Need
from ..models import User
from ..requests import (
    Ack,
    ChannelAccess,
    Handler,
    Refused,
    guarded,
    is_int,
    message_id,
    within_rate,
)
from .records import DEFAULT_PAGE, MAX_PAGE, query_words
from .store import MessageSearch


class SearchEvents:
    def __init__(
        self, search: MessageSearch, channels: ChannelAccess, *, rate: Rate | None
    ) -> None:
        self._search = search
        self._channels = channels
        self._asked = KeyedBuckets(rate)

    def handlers(self) -> dict[str, Handler]:
        return {"search": guarded("search", self._on_search)}

    async def _on_search(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        within_rate(self._asked, user, "searching")
        words = query_words(fields.get("query"))
        named = fields.get("channel")
        if named is None:
            channels = self._channels.readable(user.user_id)
        else:
            channels = [self._channels.check(user.user_id, named, Need.READ)]
        before = fields.get("before")
        if before is not None:
            before = message_id(before)
        limit = fields.get("limit", DEFAULT_PAGE)
        if not is_int(limit) or limit < 1:
            raise Refused("limit must be a positive integer")
        page = await self._search.search(words, channels, before, min(limit, MAX_PAGE))
        return {"ok": True, "results": [hit.wire() for hit in page.hits], "next": page.next}
