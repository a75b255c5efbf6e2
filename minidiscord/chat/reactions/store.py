"""The ReactionStore protocol: each message's reactions, whatever the backend."""

from collections.abc import Collection, Mapping
from typing import Protocol

import trio

from .records import Outcome, Reactions

# A message named by its channel and its id, as the wire names it.
MessageKey = tuple[str, int]


class ReactionStore(Protocol):
    """Reactions kept beside the chat's messages (memory, the SQLite file, Redis).

    Contract: ``add``/``remove`` apply ``records.changed`` atomically (concurrent requests
    on one message never break its bounds nor lose one another); reads return each
    message's reactions in ``changed``'s order. A message's id is the chat store's.
    """

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until ``close``; start it with ``nursery.start``."""
        ...

    async def close(self) -> None: ...

    async def add(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        """Add the user's reaction; the outcome and the message's reactions now."""
        ...

    async def remove(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        """Remove the user's reaction; the outcome and the message's reactions now."""
        ...

    async def of(self, wanted: Mapping[str, Collection[int]]) -> dict[MessageKey, Reactions]:
        """The reactions of these messages (channel -> ids), one read; messages without
        any are left out."""
        ...
