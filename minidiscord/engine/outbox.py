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
hands :meth:`Outbox.take` that front end's :data:`~minidiscord.asgi_io.DirectSend` and the
engine's :class:`~.directwrites.DirectWrites`. While it is parked there (nothing it took is
unwritten), :meth:`Outbox.put_direct` queues a frame without waking it and marks the outbox
for the next round of direct writes, which writes everything queued in one go. What the
socket does not take stays with the front end, counts as held like a batch being written,
and wakes the transport with an empty batch: it writes the rest, and everything put
meanwhile is queued behind it, so frames keep their order.

A broadcast puts one frame into many outboxes: :meth:`Outbox.put_direct_many` does that in
one loop, with :meth:`put_direct`'s checks written out, rather than a few calls per
recipient (at 1,000 recipients those calls were a large part of a delivery's cost). An
outbox over its limits there tells its owner at once through ``on_full``.
"""

from collections.abc import Callable, Sequence

import trio

from ..asgi_io import DirectSend
from ..protocol.engineio import Frame
from .directwrites import DirectWrites

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
        "_marked",
        "_queued",
        "_shared",
        "_waiter",
        "_writes",
        "byte_limit",
        "closed",
        "limit",
        "on_full",
    )

    def __init__(
        self,
        limit: int,
        byte_limit: int = 1 << 62,
        shared: SharedBudget | None = None,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        # Called when put_direct_many finds this outbox over its limits (the session drops
        # its client); without it the frame is only refused, as put's False says.
        self.on_full = on_full
        self.closed = False
        self._frames: list[Frame] = []
        self._waiter: trio.lowlevel.Task | None = None
        # Set only while the waiter is parked with a front end that takes direct sends,
        # and the round that writes for it; _marked while that round has it in its list.
        self._direct: DirectSend | None = None
        self._writes: DirectWrites | None = None
        self._marked = False
        # Bytes waiting in _frames, and bytes of the batch the transport took last and may
        # still be writing.
        self._queued = 0
        self._in_flight = 0
        self._shared = shared

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def awaited(self) -> bool:
        """A transport is waiting for frames: nothing is queued, or only frames for the next
        round of direct writes."""
        return self._waiter is not None

    @property
    def held(self) -> int:
        """Bytes held for this client: queued, plus the batch being written."""
        return self._queued + self._in_flight

    def put(self, frame: Frame) -> bool:
        """Queue a frame; False when the client already has ``limit`` frames or would hold
        more than ``byte_limit`` bytes (a slow consumer)."""
        if not self._hold(frame):
            return False
        # _wake(), inlined: this runs once per recipient of every broadcast.
        waiter = self._waiter
        if waiter is not None:
            self._waiter = self._direct = None
            trio.lowlevel.reschedule(waiter)
        return True

    def put_direct(self, frame: Frame) -> bool:
        """Queue a frame for the next round of direct writes when the transport is parked
        with a front end that takes them (it stays parked); otherwise :meth:`put` it.
        False: a slow consumer, as for :meth:`put`."""
        if self._direct is None:
            return self.put(frame)
        if not self._hold(frame):
            return False
        if not self._marked:
            self._marked = True
            assert self._writes is not None  # set with _direct
            self._writes.mark(self)
        return True

    def put_direct_many(self, outboxes: Sequence["Outbox"], frame: Frame) -> None:
        """:meth:`put_direct` ``frame`` into each of ``outboxes`` (this one among them or
        not), in one loop: a broadcast's path. One over its limits calls its ``on_full``
        there and then, as a refused :meth:`put_direct` makes its session drop the client,
        so that what it held is released before the next outbox is filled."""
        size = len(frame) + FRAME_OVERHEAD
        for outbox in outboxes:
            if outbox._direct is None:
                # Its writer is busy, or polls, or the outbox is closed: as put_direct.
                if not outbox.put(frame) and outbox.on_full is not None:
                    outbox.on_full()
                continue
            # _hold and the mark of put_direct, written out. Parked with a direct send means
            # open: close() wakes the writer, which drops _direct, and take() never parks a
            # closed outbox.
            frames = outbox._frames
            queued = outbox._queued + size
            if len(frames) >= outbox.limit or queued + outbox._in_flight > outbox.byte_limit:
                if outbox.on_full is not None:
                    outbox.on_full()
                continue
            outbox._queued = queued
            frames.append(frame)
            shared = outbox._shared
            if shared is not None:
                shared.held += size
                if shared.held > shared.limit:
                    shared.on_exceeded()
            if not outbox._marked:
                outbox._marked = True
                writes = outbox._writes
                assert writes is not None  # set with _direct
                writes.mark(outbox)

    def _hold(self, frame: Frame) -> bool:
        """Count and queue ``frame`` (True, also once closed: it is dropped); False over
        the limits."""
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
        return True

    def write_direct(self) -> None:
        """For :class:`DirectWrites`: write everything queued in one direct send if the
        transport still waits (otherwise it was woken and writes the queue itself)."""
        self._marked = False
        direct = self._direct
        frames = self._frames
        if direct is None or not frames:
            return
        unsent = direct(frames)
        if unsent is None:
            # The socket takes nothing now (or the front end is writing): the transport
            # writes them, and owns the socket until its queue is empty.
            self._wake()
            return
        self._frames = []
        self._release(self._queued)
        self._queued = 0
        if unsent:
            self._unsent(unsent)

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

    async def take(
        self, direct: DirectSend | None = None, writes: DirectWrites | None = None
    ) -> list[Frame]:
        """Everything queued, waiting for the first frame; empty once closed and drained,
        or when a direct send left bytes for the transport to write (the outbox is open).

        Coming back for more means the previous batch was written: it stops counting.
        While it waits, frames put with :meth:`put_direct` go through ``direct`` in the
        rounds of ``writes`` (both or neither).
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
            if writes is not None:
                self._direct = direct
                self._writes = writes
            # A bound method, not a closure: this wait is where an idle connection's
            # writer spends its life, and a closure and its cell cost 200 B more.
            await trio.lowlevel.wait_task_rescheduled(self._abort_take)
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

    def _abort_take(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._waiter = self._direct = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = self._direct = None
            trio.lowlevel.reschedule(waiter)
