"""The rounds of direct writes pause after a costly round, on trio's MockClock: a write's
cost is simulated by moving the clock, so the pause is checked without timing anything."""

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from minidiscord.engine.directwrites import COSTLY_ROUND_WRITES, MAX_PAUSE, DirectWrites
from minidiscord.engine.outbox import Outbox
from minidiscord.metrics import Metrics
from tests.engine.test_outbox_and_deadlines import Socket, direct_writes


class CostlySocket(Socket):
    """A direct send that takes ``cost`` seconds of the mock clock per write."""

    def __init__(self, clock: trio.testing.MockClock, cost: float) -> None:
        super().__init__(room=1 << 30)
        self.clock = clock
        self.cost = cost

    def send(self, frames: Sequence[str | bytes]) -> int | None:
        self.clock.jump(self.cost)
        return super().send(frames)


async def _park(
    nursery: trio.Nursery, outboxes: list[Outbox], socket: Socket, writes: DirectWrites
) -> list[list[str | bytes]]:
    """A taker per outbox, parked with direct sends; what any of them takes is listed."""
    taken: list[list[str | bytes]] = []

    async def taker(outbox: Outbox) -> None:
        taken.append(await outbox.take(socket.send, writes))

    for outbox in outboxes:
        nursery.start_soon(taker, outbox)
    await trio.testing.wait_all_tasks_blocked()
    return taken


def _put_all(outboxes: list[Outbox], frame: str) -> None:
    for outbox in outboxes:
        assert outbox.put_direct(frame)


async def test_a_costly_round_pauses_the_next_for_as_long_and_it_carries_what_gathered(
    mock_clock: trio.testing.MockClock,
) -> None:
    outboxes = [Outbox(limit=10) for _ in range(COSTLY_ROUND_WRITES)]
    first, second = outboxes[:2]
    socket = CostlySocket(mock_clock, 1e-5)
    took = COSTLY_ROUND_WRITES * socket.cost
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        taken = await _park(nursery, outboxes, socket, writes)
        _put_all(outboxes, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["a"]] * COSTLY_ROUND_WRITES
        rounds = writes.rounds
        socket.written.clear()

        _put_all(outboxes, "b")
        await trio.testing.wait_all_tasks_blocked()
        # Paused for as long as the round took: nothing written, the frames count as queued.
        assert writes.rounds == rounds
        assert socket.written == []
        assert first.held
        mock_clock.jump(took / 2)
        assert first.put_direct("c")
        # Something queued for the writer meanwhile wakes it: it takes what waited for the
        # round too, in order, and the round leaves that client alone.
        assert second.put("queued")
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [["b", "queued"]]
        assert writes.rounds == rounds
        mock_clock.jump(took / 2 * 1.01)
        await trio.testing.wait_all_tasks_blocked()
        # One round, one write per client carrying what gathered.
        assert writes.rounds == rounds + 1
        assert socket.written == [["b", "c"]] + [["b"]] * (COSTLY_ROUND_WRITES - 2)
        assert not first
        nursery.cancel_scope.cancel()


async def test_the_pause_is_at_most_the_latency_budget(mock_clock: trio.testing.MockClock) -> None:
    outboxes = [Outbox(limit=10) for _ in range(COSTLY_ROUND_WRITES)]
    socket = CostlySocket(mock_clock, MAX_PAUSE)  # a round of seconds
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, outboxes, socket, writes)
        _put_all(outboxes, "slow")
        await trio.testing.wait_all_tasks_blocked()
        socket.written.clear()
        assert outboxes[0].put_direct("next")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == []
        mock_clock.jump(MAX_PAUSE * 0.99)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == []
        mock_clock.jump(MAX_PAUSE * 0.02)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["next"]]
        nursery.cancel_scope.cancel()


async def test_a_round_of_few_writes_is_not_paused_after_however_long_it_took(
    mock_clock: trio.testing.MockClock,
) -> None:
    # Held up (a busy machine, a fault being logged), not costly: no pause follows.
    outboxes = [Outbox(limit=10) for _ in range(COSTLY_ROUND_WRITES - 1)]
    socket = CostlySocket(mock_clock, MAX_PAUSE)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, outboxes, socket, writes)
        for frame in ("one", "two", "three"):
            assert outboxes[0].put_direct(frame)
            await trio.testing.wait_all_tasks_blocked()
        # A round each, in the next scheduler batch: the clock moved only by the writes.
        assert socket.written == [["one"], ["two"], ["three"]]
        assert trio.current_time() == pytest.approx(3 * socket.cost)
        nursery.cancel_scope.cancel()


async def test_rounds_and_their_writes_are_counted_in_the_metrics() -> None:
    metrics = Metrics()
    outboxes = [Outbox(limit=10) for _ in range(3)]
    socket = Socket(room=1 << 20)
    writes = DirectWrites(metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writes.run)
        await _park(nursery, outboxes, socket, writes)
        for frame in ("a", "b"):
            _put_all(outboxes, frame)
        await trio.testing.wait_all_tasks_blocked()
        assert outboxes[0].put_direct("c")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert socket.written == [["a", "b"]] * 3 + [["c"]]
    assert metrics.registry.get_sample_value("minidiscord_direct_write_rounds_total") == 2
    assert metrics.registry.get_sample_value("minidiscord_direct_write_clients_total") == 4
