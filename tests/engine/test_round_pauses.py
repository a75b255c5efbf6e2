"""The rounds of direct writes pause after a costly round, on trio's MockClock: a write's
cost is simulated by moving the clock, so the pause is checked without timing anything."""

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from minidiscord.engine.directwrites import MAX_PAUSE, MIN_COSTLY_ROUND, DirectWrites
from minidiscord.engine.outbox import Outbox
from minidiscord.metrics import Metrics
from tests.engine.test_outbox_and_deadlines import Socket, direct_writes


class CostlySocket(Socket):
    """A direct send that takes ``cost`` seconds of the mock clock per write."""

    def __init__(self, clock: trio.testing.MockClock, cost: float) -> None:
        super().__init__(room=1 << 20)
        self.clock = clock
        self.cost = cost

    def send(self, frames: Sequence[str | bytes]) -> int | None:
        self.clock.jump(self.cost)
        return super().send(frames)


async def _park(
    nursery: trio.Nursery, outbox: Outbox, socket: Socket, writes: DirectWrites
) -> list[list[str | bytes]]:
    """Start a taker on ``outbox`` that parks with direct sends; what it takes is listed."""
    taken: list[list[str | bytes]] = []

    async def taker() -> None:
        taken.append(await outbox.take(socket.send, writes))

    nursery.start_soon(taker)
    await trio.testing.wait_all_tasks_blocked()
    return taken


async def test_a_costly_round_pauses_the_next_for_as_long_and_it_carries_what_gathered(
    mock_clock: trio.testing.MockClock,
) -> None:
    cost = MIN_COSTLY_ROUND  # per write: a round of two takes twice the threshold
    first, second = Outbox(limit=10), Outbox(limit=10)
    socket = CostlySocket(mock_clock, cost)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, first, socket, writes)
        taken = await _park(nursery, second, socket, writes)
        assert first.put_direct("a")
        assert second.put_direct("a")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["a"], ["a"]]
        rounds = writes.rounds
        ended = trio.current_time()

        assert first.put_direct("b")
        assert second.put_direct("b")
        await trio.testing.wait_all_tasks_blocked()
        # Paused for as long as the round took: nothing written, the frames count as queued.
        assert writes.rounds == rounds
        assert socket.written == [["a"], ["a"]]
        assert first.held
        assert second.held
        mock_clock.jump(cost)
        assert first.put_direct("c")
        # Something queued for the writer meanwhile wakes it: it takes what waited for the
        # round too, in order, and the round leaves that client alone.
        assert second.put("queued")
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [["b", "queued"]]
        assert writes.rounds == rounds
        assert trio.current_time() < ended + 2 * cost
        mock_clock.jump(cost * 1.01)
        await trio.testing.wait_all_tasks_blocked()
        # One round, one write carrying both messages.
        assert writes.rounds == rounds + 1
        assert socket.written == [["a"], ["a"], ["b", "c"]]
        assert not first
        nursery.cancel_scope.cancel()


async def test_the_pause_is_at_most_the_latency_budget(mock_clock: trio.testing.MockClock) -> None:
    outbox = Outbox(limit=10)
    socket = CostlySocket(mock_clock, 10 * MAX_PAUSE)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, outbox, socket, writes)
        assert outbox.put_direct("slow")
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put_direct("next")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["slow"]]
        mock_clock.jump(MAX_PAUSE * 0.99)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["slow"]]
        mock_clock.jump(MAX_PAUSE * 0.02)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["slow"], ["next"]]
        nursery.cancel_scope.cancel()


async def test_after_a_cheap_round_the_next_runs_at_once(
    mock_clock: trio.testing.MockClock,
) -> None:
    outbox = Outbox(limit=10)
    socket = CostlySocket(mock_clock, MIN_COSTLY_ROUND / 2)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        await _park(nursery, outbox, socket, writes)
        for frame in ("one", "two", "three"):
            assert outbox.put_direct(frame)
            await trio.testing.wait_all_tasks_blocked()
        # No pause: a round each, in the next scheduler batch, with the clock never moved
        # but by the writes themselves.
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
        for outbox in outboxes:
            nursery.start_soon(outbox.take, socket.send, writes)
        await trio.testing.wait_all_tasks_blocked()
        for frame in ("a", "b"):
            for outbox in outboxes:
                assert outbox.put_direct(frame)
        await trio.testing.wait_all_tasks_blocked()
        assert outboxes[0].put_direct("c")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert socket.written == [["a", "b"]] * 3 + [["c"]]
    assert metrics.registry.get_sample_value("minidiscord_direct_write_rounds_total") == 2
    assert metrics.registry.get_sample_value("minidiscord_direct_write_clients_total") == 4
