"""The MessageSearch protocol: one page of a search, whatever the backend."""

from collections.abc import Sequence
from typing import Protocol

import trio

from .records import Page


class MessageSearch(Protocol):
    """Search the chat store's messages. Contract: a message matches when its text holds
    every word (SQLite: as a word or a word's start, accents ignored; a scan: anywhere,
    case ignored); deleted messages never match; an edited one matches its text now; hits
    come newest first, with ids below ``before`` (when given), at most ``limit``."""

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None: ...

    async def close(self) -> None: ...

    async def search(
        self, words: Sequence[str], channels: Sequence[str], before: int | None, limit: int
    ) -> Page: ...
