"""ReadStore: where each user's read position per channel is kept, whatever the backend.

A position is the id of the newest message the user has read in the channel (ids grow in
the order messages were stored, across channels). It only moves forward: marking an older
message read (a tab that was behind) keeps the newer position. A guest's positions are
kept for its user, i.e. as long as its session may be restored.
"""

from typing import Protocol

import trio


class ReadStore(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until ``close`` (``nursery.start``)."""
        ...

    async def close(self) -> None: ...

    async def mark_read(self, user_id: str, channel: str, message_id: int) -> int:
        """Move the user's position in ``channel`` up to ``message_id`` (never back); the
        position now stored. Raises StoreWriteError when it cannot be stored."""
        ...

    async def positions(self, user_id: str) -> dict[str, int]:
        """The user's position in each channel they have read (none: never read there).
        Raises StoreReadError when the store cannot answer."""
        ...

    async def forget(self, user_id: str) -> None:
        """The user is gone (a guest left): its positions go too."""
        ...
