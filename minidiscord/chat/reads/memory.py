"""MemoryReads: read positions in a dict (the memory chat store's companion)."""

import trio


class MemoryReads:
    """No method awaits before it is done, so each is atomic among trio tasks."""

    def __init__(self) -> None:
        self._positions: dict[str, dict[str, int]] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        pass

    async def mark_read(self, user_id: str, channel: str, message_id: int) -> int:
        positions = self._positions.setdefault(user_id, {})
        positions[channel] = max(positions.get(channel, 0), message_id)
        return positions[channel]

    async def positions(self, user_id: str) -> dict[str, int]:
        return dict(self._positions.get(user_id, {}))

    async def forget(self, user_id: str) -> None:
        self._positions.pop(user_id, None)
