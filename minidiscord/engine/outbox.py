"""The frames queued for one client, the one transport task that takes them, and the bytes
they hold, per client and per client address.

A list and a parked task, not a trio memory channel: a broadcast appends without
blocking, the transport takes everything queued in one go, and an idle connection holds
an empty list and a task reference rather than a channel's deque and two bookkeeping
dicts (about 2 KB less per connection, and no spare deque blocks kept after a burst).

Memory is counted in bytes, not only frames: one answer can be a 200 KB frame, so a
client that asks and never reads must hit a byte budget. A frame counts from the moment
it is queued until the transport comes back for more (it has then written the batch it
took), so a writer stuck on a client that does not read still counts what it holds.

Direct sends: a transport whose front end can write to the client's socket from any task
hands :meth:`Outbox.take` that front end's :data:`~minidiscord.asgi_io.DirectSend`. While it
is parked there (nothing queued, nothing it took is unwritten), :meth:`Outbox.put_direct`
writes a frame straight to the socket instead of queueing it and waking the transport.
What the socket does not take stays with the front end, counts as held like a batch being
written, and wakes the transport with an empty batch: it writes the rest, and everything
put meanwhile is queued behind it, so frames keep their order.
"""

from collections.abc import Callable

import trio

from ..asgi_io import DirectSend
from ..protocol.engineio import Frame

# Each queued frame also costs its list slot and bookkeeping; counting it keeps a flood of
# tiny frames from slipping under the byte budget.
FRAME_OVERHEAD = 16


class SharedBudget:
    """The bytes held for every client of one address, against one limit.

    ``on_exceeded`` is called when a put takes the total over the limit; the engine then
    drops the client of that address that holds the most.
    """

    __slots__ = ("held", "limit", "on_exceeded")

    def __init__(self, limit: int, on_exceeded: Callable[[], None]) -> None:
        self.limit = limit
        self.held = 0
        self.on_exceeded = on_exceeded


class Outbox:
    __slots__ = (
        "_direct",
        "_frames",
        "_in_flight",
        "_queued",
        "_shared",
        "_waiter",
        "byte_limit",
        "closed",
        "limit",
    )

    def __init__(
        self, limit: int, byte_limit: int = 1 << 62, shared: SharedBudget | None = None
    ) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        self.closed = False
        self._frames: list[Frame] = []
        self._waiter: trio.lowlevel.Task | None = None
        # Set only while the waiter is parked with a front end that takes direct sends.
        self._direct: DirectSend | None = None
        # Bytes waiting in _frames, and bytes of the batch the transport took last and may
        # still be writing.
        self._queued = 0
        self._in_flight = 0
        self._shared = shared

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def awaited(self) -> bool:
        """A transport is waiting for the next frame (so nothing is queued)."""
        return self._waiter is not None

    @property
    def held(self) -> int:
        """Bytes held for this client: queued, plus the batch being written."""
        return self._queued + self._in_flight

    def put(self, frame: Frame) -> bool:
        """Queue a frame; False when the client already has ``limit`` frames or would hold
        more than ``byte_limit`` bytes (a slow consumer)."""
        if self.closed:
            return True
        size = len(frame) + FRAME_OVERHEAD
        queued = self._queued + size
        if len(self._frames) >= self.limit or queued + self._in_flight > self.byte_limit:
            return False
        self._queued = queued
        self._frames.append(frame)
        shared = self._shared
        if shared is not None:
            shared.held += size
            if shared.held > shared.limit:
                shared.on_exceeded()
        # _wake(), inlined: this runs once per recipient of every broadcast.
        waiter = self._waiter
        if waiter is not None:
            self._waiter = self._direct = None
            trio.lowlevel.reschedule(waiter)
        return True

    def put_direct(self, frame: Frame) -> bool:
        """Write a frame straight to the client's socket when the transport is parked with
        a front end that takes direct sends; otherwise :meth:`put` it. False: a slow
        consumer, as for :meth:`put`."""
        direct = self._direct
        if direct is not None:
            unsent = direct(frame)
            if unsent is not None:
                if unsent:
                    self._unsent(unsent)
                return True
        return self.put(frame)

    def _unsent(self, size: int) -> None:
        """The socket took only part of a direct send; the front end holds the rest until
        the transport, woken with nothing, writes it. It counts until then."""
        size += FRAME_OVERHEAD
        self._in_flight += size
        shared = self._shared
        if shared is not None:
            shared.held += size
            if shared.held > shared.limit:
                shared.on_exceeded()
        self._wake()

    def put_first(self, frame: Frame) -> bool:
        """Queue a control frame ahead of everything waiting (a ping must not sit behind a
        backlog: the client cannot answer what it has not been sent)."""
        if self.closed:
            return True
        self._frames.insert(0, frame)
        size = len(frame) + FRAME_OVERHEAD
        self._queued += size
        if self._shared is not None:
            self._shared.held += size
        self._wake()
        return True

    async def take(self, direct: DirectSend | None = None) -> list[Frame]:
        """Everything queued, waiting for the first frame; empty once closed and drained,
        or when a direct send left bytes for the transport to write (the outbox is open).

        Coming back for more means the previous batch was written: it stops counting.
        While it waits, frames go through ``direct`` (see :meth:`put_direct`).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._in_flight:
            if self._shared is not None:
                self._shared.held -= self._in_flight
            self._in_flight = 0
        if not self._frames and not self.closed:
            if self._waiter is not None:
                raise trio.BusyResourceError("another task is already taking from this outbox")
            self._waiter = trio.lowlevel.current_task()
            self._direct = direct

            def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                self._waiter = self._direct = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        frames, self._frames = self._frames, []
        # Added to what a direct send left unsent, which counts until the next take too.
        self._in_flight += self._queued
        self._queued = 0
        return frames

    def close(self, *, discard: bool = False) -> None:
        """No more frames; the taker gets what is left (nothing with ``discard``), then []."""
        self.closed = True
        if discard:
            # The batch in flight is abandoned too (its writer is being cancelled).
            self._frames = []
            self._release(self._queued + self._in_flight)
            self._queued = self._in_flight = 0
        self._wake()

    def forget(self) -> None:
        """The client is gone: nothing it held counts any more (its address's total included)."""
        self._frames = []
        self._release(self._queued + self._in_flight)
        self._queued = self._in_flight = 0
        self._shared = None

    def _release(self, size: int) -> None:
        if size and self._shared is not None:
            self._shared.held -= size

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = self._direct = None
            trio.lowlevel.reschedule(waiter)
