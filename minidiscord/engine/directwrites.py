"""One task that writes broadcast frames to idle clients' sockets, in rounds.

A broadcast to a client whose writer is parked (nothing queued, nothing unwritten) does not
write or wake anyone: the frame waits in the client's outbox, which is marked here. When
this task next runs, after the tasks of the current scheduler round, it writes each marked
client's frames in ONE non-blocking write through the front end's
:data:`~minidiscord.asgi_io.DirectSend`. On a busy server one round handles several
messages (every reader with input runs before it), so a client gets them in one system
call rather than one each: the per-delivery cost falls as the load rises. On an idle one a
frame waits only for the rest of its scheduler round (the broadcaster runs to its next
checkpoint).

A round is written in slices of :data:`SLICE_WRITES` clients with a checkpoint between
them. A round to 1,000 clients takes several milliseconds, and without those checkpoints
every reader waited for all of it, then every message it read waited for a whole further
round: a message could wait two rounds and the pause between them. With them a message
read during a round reaches the clients the round has not written yet in that same round
(their outboxes are still in its list and marked, so the broadcast only adds the frame,
and the round writes it when it gets there), and the clients already written in the next
round (the broadcast marks them again): at worst one round and the pause. The others run at
those checkpoints only while they have had less of the round than its writes, so that the
writes keep at least half of it when the server cannot keep up.

A round costs a system call per client it writes, whatever those writes carry: with 1,000
clients in a room that is several milliseconds, and at a steady rate each round would carry
only the message or two that arrived during the one before, so the rounds alone would keep
the core busy. A round that wrote at least :data:`COSTLY_ROUND_WRITES` clients is therefore
followed by a pause as long as its writes took (at most :data:`MAX_PAUSE`), less the time
other tasks already ran at its checkpoints: the writes get at most about half of the core,
each carries everything the round and the pause gathered, and a message waits at most that
pause longer. The writes' own time, not the round's from start to end, sets the pause, so
the work done at the checkpoints does not lengthen it. After a round of fewer writes (a
small room, a quiet server) the next one runs as before, in the next scheduler batch.

Order is kept by the outbox: frames for a marked client stay in its queue, so anything
else put meanwhile (which wakes the writer) goes behind them, and the writer then writes
them all itself; a write here happens only while the writer still waits.
"""

import logging
import math
from typing import TYPE_CHECKING

import trio

from ..metrics import Metrics

if TYPE_CHECKING:
    from .outbox import Outbox

logger = logging.getLogger("minidiscord.engine")

# A round that wrote fewer clients than this (well under a millisecond of system calls) is
# not followed by a pause: a small room or a quiet server would get latency for nothing. A
# count, not a time, so that a round held up by the machine (or by logging a fault) is not
# taken for a costly one.
COSTLY_ROUND_WRITES = 128
# The most a message waits for the rounds to gather more (the latency budget of batching).
MAX_PAUSE = 0.010
# Clients written between two checkpoints of a round: about a millisecond of system calls
# on loopback, the longest a reader then waits for a round; a checkpoint costs a scheduler
# pass, a few microseconds, so the slices add well under 1% to a round.
SLICE_WRITES = 64


class DirectWrites:
    """The outboxes marked for a direct write, and the task that writes them."""

    __slots__ = ("_marked", "_metrics", "_next_round_at", "_waiter", "rounds")

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics
        self._marked: list[Outbox] = []
        self._waiter: trio.lowlevel.Task | None = None
        # When the next round may start: the end of a costly round plus its pause.
        self._next_round_at = -math.inf
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
            parked = not self._marked
            if parked:
                self._waiter = trio.lowlevel.current_task()

                def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                    self._waiter = None
                    return trio.lowlevel.Abort.SUCCEEDED

                await trio.lowlevel.wait_task_rescheduled(abort)
            if trio.current_time() < self._next_round_at:
                await trio.sleep_until(self._next_round_at)
            elif not parked:
                # Marked while this task ran (at the round's checkpoints, or by a slow
                # consumer's drop, which can broadcast): the others get their turn first,
                # and this round gathers more.
                await trio.lowlevel.checkpoint()
            await self._write_round()

    async def _write_round(self) -> None:
        marked, self._marked = self._marked, []
        self.rounds += 1
        started = trio.current_time()
        writing = 0.0
        for first in range(0, len(marked), SLICE_WRITES):
            # Only while the others have had less of the round than its writes: on a
            # server that cannot keep up, they would otherwise take ever more of it, and
            # the clients not yet written fill their outboxes and are dropped.
            if first and trio.current_time() - started < 2 * writing:
                await self._checkpoint(marked, first)
            slice_started = trio.current_time()
            for outbox in marked[first : first + SLICE_WRITES]:
                try:
                    outbox.write_direct()
                except Exception:
                    # One client's fault (a bug) must not end the rounds for every client.
                    logger.exception("a direct write failed")
            writing += trio.current_time() - slice_started
        ended = trio.current_time()
        if self._metrics is not None:
            self._metrics.direct_write_rounds.inc()
            self._metrics.direct_write_clients.inc(len(marked))
        if len(marked) >= COSTLY_ROUND_WRITES:
            # What the others ran at the checkpoints counts as pause already given.
            self._next_round_at = max(ended, started + writing + min(writing, MAX_PAUSE))
        else:
            self._next_round_at = ended

    async def _checkpoint(self, marked: "list[Outbox]", first: int) -> None:
        """Let the others run between two slices of a round; cancelled there, the clients
        not yet written stay marked, first in line for a next round."""
        try:
            await trio.lowlevel.checkpoint()
        except BaseException:
            self._marked[:0] = marked[first:]
            raise
