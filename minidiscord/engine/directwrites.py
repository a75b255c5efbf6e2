"""One task that writes broadcast frames to idle clients' sockets, once per scheduler round.

A broadcast to a client whose writer is parked (nothing queued, nothing unwritten) does not
write or wake anyone: the frame waits in the client's outbox, which is marked here. When
this task next runs, after the tasks of the current round, it writes each marked client's
frames in ONE non-blocking write through the front end's
:data:`~minidiscord.asgi_io.DirectSend`. On a busy server one round handles several
messages (every reader with input runs before it), so a client gets them in one system
call rather than one each: the per-delivery cost falls as the load rises. On an idle one a
frame waits only for the rest of its round (the broadcaster runs to its next checkpoint).

Order is kept by the outbox: frames for a marked client stay in its queue, so anything
else put meanwhile (which wakes the writer) goes behind them, and the writer then writes
them all itself; a write here happens only while the writer still waits.
"""

import logging
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from .outbox import Outbox

logger = logging.getLogger("minidiscord.engine")


class DirectWrites:
    """The outboxes marked for a direct write, and the task that writes them."""

    __slots__ = ("_marked", "_waiter", "rounds")

    def __init__(self) -> None:
        self._marked: list[Outbox] = []
        self._waiter: trio.lowlevel.Task | None = None
        # Rounds run so far (how a test sees that broadcasts were batched).
        self.rounds = 0

    def mark(self, outbox: "Outbox") -> None:
        """``outbox`` has frames for a direct write (it marks itself once until written)."""
        self._marked.append(outbox)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)

    async def run(self) -> None:
        """Write marked outboxes, a round at a time, until cancelled."""
        while True:
            if not self._marked:
                self._waiter = trio.lowlevel.current_task()

                def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                    self._waiter = None
                    return trio.lowlevel.Abort.SUCCEEDED

                await trio.lowlevel.wait_task_rescheduled(abort)
            else:
                # Marked while this task ran (a slow consumer's drop can broadcast): the
                # others get their turn first, and this round gathers more.
                await trio.lowlevel.checkpoint()
            marked, self._marked = self._marked, []
            self.rounds += 1
            for outbox in marked:
                try:
                    outbox.write_direct()
                except Exception:
                    # One client's fault (a bug) must not end the rounds for every client.
                    logger.exception("a direct write failed")
