"""A round of direct writes is written in slices with a checkpoint between them, on trio's
MockClock: what runs at a checkpoint (a broadcast, a put that wakes a writer, the round's
cancellation) is driven from the socket's write at the end of the first slice, and a
write's cost is simulated by moving the clock, so nothing is timed."""

from collections.abc import Callable, Sequence

import pytest
import trio
import trio.testing

from minidiscord.engine.directwrites import (
    COSTLY_ROUND_WRITES,
    MAX_PAUSE,
    SLICE_WRITES,
    DirectWrites,
)
from minidiscord.engine.outbox import Outbox
from tests.engine.test_outbox_and_deadlines import direct_writes
from tests.engine.test_round_pauses import CostlySocket, _park, _put_all

# Three slices, and a round costly enough to be followed by a pause.
CLIENTS = 3 * SLICE_WRITES
WRITE_COST = 1e-5
ROUND_COST = CLIENTS * WRITE_COST
assert CLIENTS >= COSTLY_ROUND_WRITES
assert ROUND_COST < MAX_PAUSE


class SlicedSocket(CostlySocket):
    """Calls ``at_first_slice_end`` when the first slice's last write is made: whatever it
    wakes runs at the checkpoint that follows, or at the next one (trio runs the tasks of a
    scheduler batch in either order, the round's own among them)."""

    def __init__(
        self, clock: trio.testing.MockClock, at_first_slice_end: Callable[[], None]
    ) -> None:
        super().__init__(clock, WRITE_COST)
        self.at_first_slice_end = at_first_slice_end

    def send(self, frames: Sequence[str | bytes]) -> int | None:
        unsent = super().send(frames)
        if len(self.written) == SLICE_WRITES:
            self.at_first_slice_end()
        return unsent


@pytest.mark.parametrize("handling", [ROUND_COST / 4, 2 * ROUND_COST])
async def test_a_broadcast_at_a_checkpoint_reaches_the_rest_of_the_round_then_the_others(
    mock_clock: trio.testing.MockClock, handling: float
) -> None:
    outboxes = [Outbox(limit=10) for _ in range(CLIENTS)]
    woken = outboxes[-1]
    checkpoint = trio.Event()
    # How many clients the round had written when the broadcast came.
    written_before: list[int] = []
    socket = SlicedSocket(mock_clock, checkpoint.set)

    async def broadcaster() -> None:
        await checkpoint.wait()
        # Handling the message that arrived during the round takes the clock forward.
        mock_clock.jump(handling)
        written_before.append(len(socket.written))
        _put_all(outboxes, "b")
        # Something queued for one client not yet written wakes its writer: it takes both
        # frames and its own, in order, and the round leaves it alone.
        assert woken.put("queued")

    async with direct_writes() as writes, trio.open_nursery() as nursery:
        taken = await _park(nursery, outboxes, socket, writes)
        nursery.start_soon(broadcaster)
        started = trio.current_time()
        _put_all(outboxes, "a")
        await trio.testing.wait_all_tasks_blocked()
        # The first round: the clients after the checkpoint got "b" with "a", in one write.
        (at,) = written_before
        assert at in (SLICE_WRITES, 2 * SLICE_WRITES)
        assert socket.written[:at] == [["a"]] * at
        assert socket.written[at : CLIENTS - 1] == [["a", "b"]] * (CLIENTS - 1 - at)
        assert taken == [["a", "b", "queued"]]
        assert not any(outboxes[at:])
        # The pause: as long as the writes took, of which the handling at the checkpoint
        # already gave its part; none left when the handling took longer than that.
        pause_left = (CLIENTS - 1) * WRITE_COST - handling
        if pause_left > 0:
            assert writes.rounds == 1
            assert all(len(outbox) == 1 for outbox in outboxes[:at])
            mock_clock.jump(pause_left * 0.99)
            await trio.testing.wait_all_tasks_blocked()
            assert writes.rounds == 1
            mock_clock.jump(pause_left * 0.02)
            await trio.testing.wait_all_tasks_blocked()
        else:
            # No sleep: the clock moved by the two rounds' writes and the handling only.
            took = (CLIENTS - 1 + at) * WRITE_COST + handling
            assert trio.current_time() - started == pytest.approx(took)
        # The clients written before the broadcast get "b" in the next round.
        assert writes.rounds == 2
        assert socket.written[CLIENTS - 1 :] == [["b"]] * at
        assert not any(outboxes)
        nursery.cancel_scope.cancel()


async def test_a_round_cancelled_at_a_checkpoint_leaves_the_rest_marked_for_the_next(
    mock_clock: trio.testing.MockClock,
) -> None:
    outboxes = [Outbox(limit=10) for _ in range(CLIENTS)]
    cancel_scope = trio.CancelScope()
    socket = SlicedSocket(mock_clock, cancel_scope.cancel)
    writes = DirectWrites()
    async with trio.open_nursery() as nursery:
        await _park(nursery, outboxes, socket, writes)

        async def first_run() -> None:
            with cancel_scope:
                await writes.run()

        nursery.start_soon(first_run)
        await trio.testing.wait_all_tasks_blocked()
        _put_all(outboxes, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["a"]] * SLICE_WRITES
        # Still marked: a frame put now joins the queue without a mark of its own.
        assert outboxes[-1].put_direct("b")
        nursery.start_soon(writes.run)
        mock_clock.jump(MAX_PAUSE)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written[SLICE_WRITES:] == [["a"]] * (CLIENTS - SLICE_WRITES - 1) + [
            ["a", "b"]
        ]
        assert not any(outboxes)
        nursery.cancel_scope.cancel()


async def test_others_that_took_longer_than_the_writes_get_no_more_checkpoints_in_the_round(
    mock_clock: trio.testing.MockClock,
) -> None:
    # Four slices: without the limit, a task running at every checkpoint would see two or
    # three of them.
    outboxes = [Outbox(limit=10) for _ in range(4 * SLICE_WRITES)]
    socket = CostlySocket(mock_clock, WRITE_COST)
    seen_mid_round: list[int] = []

    async def busy_reader() -> None:
        while len(socket.written) < len(outboxes):
            if socket.written:
                seen_mid_round.append(len(socket.written))
                # A server that cannot keep up: what was read takes longer than the round.
                mock_clock.jump(len(outboxes) * WRITE_COST)
            await trio.lowlevel.checkpoint()

    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, outboxes, socket, writes)
        _put_all(outboxes, "a")
        nursery.start_soon(busy_reader)
        await trio.testing.wait_all_tasks_blocked()
        assert writes.rounds == 1
        assert socket.written == [["a"]] * len(outboxes)
        # It runs more than once at a checkpoint (trio's batches), but at one checkpoint only.
        (checkpoint,) = set(seen_mid_round)
        assert checkpoint in (SLICE_WRITES, 2 * SLICE_WRITES)
        nursery.cancel_scope.cancel()
