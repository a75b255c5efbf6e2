"""The frames queued for one client, and the one transport task that takes them.

A list and a parked task, not a trio memory channel: a broadcast appends without
blocking, the transport takes everything queued in one go, and an idle connection holds
an empty list and a task reference rather than a channel's deque and two bookkeeping
dicts (about 2 KB less per connection, and no spare deque blocks kept after a burst).
"""

import trio

from ..protocol.engineio import Frame


class Outbox:
    __slots__ = ("_frames", "_waiter", "closed", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closed = False
        self._frames: list[Frame] = []
        self._waiter: trio.lowlevel.Task | None = None

    def put(self, frame: Frame) -> bool:
        """Queue a frame; False when ``limit`` frames are already waiting (a slow consumer)."""
        if self.closed:
            return True
        if len(self._frames) >= self.limit:
            return False
        self._frames.append(frame)
        self._wake()
        return True

    async def take(self) -> list[Frame]:
        """Everything queued, waiting for the first frame; empty once closed and drained."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._frames and not self.closed:
            if self._waiter is not None:
                raise trio.BusyResourceError("another task is already taking from this outbox")
            self._waiter = trio.lowlevel.current_task()

            def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                self._waiter = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        frames, self._frames = self._frames, []
        return frames

    def close(self, *, discard: bool = False) -> None:
        """No more frames; the taker gets what is left (nothing with ``discard``), then []."""
        self.closed = True
        if discard:
            self._frames = []
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)
