"""MemoryReactions: reactions in a dict, for the memory store (nothing survives the process)."""

from collections.abc import Collection, Mapping

import trio

from .records import Outcome, Pairs, Reactions, changed, grouped
from .store import MessageKey


class MemoryReactions:
    """No method awaits: each is atomic with respect to other trio tasks."""

    def __init__(self) -> None:
        self._reactions: dict[MessageKey, Pairs] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        pass

    async def add(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return self._change((channel, message_id), emoji, user_id, add=True)

    async def remove(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return self._change((channel, message_id), emoji, user_id, add=False)

    def _change(
        self, key: MessageKey, emoji: str, user_id: str, *, add: bool
    ) -> tuple[Outcome, Reactions]:
        outcome, now = changed(self._reactions.get(key, ()), emoji, user_id, add=add)
        if now:
            self._reactions[key] = now
        else:
            self._reactions.pop(key, None)
        return outcome, grouped(now)

    async def of(self, wanted: Mapping[str, Collection[int]]) -> dict[MessageKey, Reactions]:
        return {
            (channel, number): grouped(self._reactions[(channel, number)])
            for channel, numbers in wanted.items()
            for number in numbers
            if (channel, number) in self._reactions
        }
