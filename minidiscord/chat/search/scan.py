"""ScanSearch: search by reading back through the chat store's history, for the stores
without an index of their own (memory; Redis, where RediSearch is a module most servers do
not have). Each channel is read newest first a page at a time, up to MAX_SCAN messages per
channel per search; a page says where the next one starts, so a long history is searched
in several pages rather than all at once."""

from collections.abc import Sequence
from typing import Final

import trio

from ..models import Message
from ..store.base import Store
from .records import Hit, Page, snippet_around

# Messages read per channel per search, at most, and per store read.
MAX_SCAN: Final = 5000
READ_PAGE: Final = 500


class ScanSearch:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        pass

    async def search(
        self, words: Sequence[str], channels: Sequence[str], before: int | None, limit: int
    ) -> Page:
        top = before if before is not None else 2**63 - 1
        hits: list[Hit] = []
        # The lowest id down to which every channel was read (its history, or MAX_SCAN).
        floor = 0
        for channel in channels:
            found, stopped = await self._scan(channel, words, top, limit)
            hits += found
            floor = max(floor, stopped)
        hits = sorted((h for h in hits if h.message.id >= floor), key=lambda h: -h.message.id)
        hits = hits[:limit]
        if len(hits) == limit:
            return Page(hits, hits[-1].message.id)
        return Page(hits, floor or None)

    async def _scan(
        self, channel: str, words: Sequence[str], top: int, limit: int
    ) -> tuple[list[Hit], int]:
        """Up to ``limit`` hits of one channel below ``top``, newest first, and the id the
        read stopped above when it stopped before the channel's start (0 when it did not,
        or when it stopped because it had ``limit`` hits: those cover what they span)."""
        hits: list[Hit] = []
        read = 0
        while read < MAX_SCAN:
            page = await self._store.messages_before(channel, top, READ_PAGE)
            if not page:
                return hits, 0
            read += len(page)
            for message in reversed(page):
                hit = _match(message, words)
                if hit is not None:
                    hits.append(hit)
                    if len(hits) == limit:
                        return hits, 0
            top = page[0].id
            if len(page) < READ_PAGE:
                return hits, 0
        return hits, top


def _match(message: Message, words: Sequence[str]) -> Hit | None:
    text = message.message.casefold()
    places = [text.find(word) for word in words]
    if any(at < 0 for at in places):
        return None
    return Hit(message, snippet_around(message.message, places[0], len(words[0])))
