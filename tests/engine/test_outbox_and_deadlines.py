"""The engine's per-session frame queue and its shared deadline task, on their own."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.engine.deadlines import Deadlines
from minidiscord.engine.directwrites import DirectWrites
from minidiscord.engine.outbox import FRAME_OVERHEAD, Outbox, SharedBudget


async def test_outbox_hands_over_everything_queued_in_one_take() -> None:
    outbox = Outbox(limit=3)
    taken: list[list[str | bytes]] = []

    async def taker() -> None:
        taken.append(await outbox.take())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put("a")
        assert outbox.put("b")
    assert taken == [["a", "b"]]


async def test_a_full_outbox_refuses_and_a_closed_one_drains_then_ends() -> None:
    outbox = Outbox(limit=2)
    assert outbox.put("a")
    assert outbox.put(b"b")
    assert not outbox.put("c")
    outbox.close()
    assert outbox.put("after close")  # silently dropped, not a slow consumer
    assert await outbox.take() == ["a", b"b"]
    assert await outbox.take() == []


async def test_closing_with_discard_drops_the_queue_and_wakes_the_taker() -> None:
    outbox = Outbox(limit=5)
    results: list[list[str | bytes]] = []

    async def taker() -> None:
        results.append(await outbox.take())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        outbox.close(discard=True)
    assert results == [[]]
    outbox2 = Outbox(limit=5)
    outbox2.put("x")
    outbox2.close(discard=True)
    assert await outbox2.take() == []


async def test_a_cancelled_taker_leaves_the_outbox_usable_and_two_takers_are_refused() -> None:
    outbox = Outbox(limit=5)
    with trio.move_on_after(0.01):
        await outbox.take()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.take)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await outbox.take()
        outbox.put("x")


class Recorder:
    def __init__(self, name: str, log: list[tuple[str, float, float]]) -> None:
        self.name = name
        self.log = log

    def deadline_reached(self, at: float, now: float) -> None:
        self.log.append((self.name, at, now))


async def test_deadlines_fire_in_time_order_even_when_an_earlier_one_arrives_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    deadlines = Deadlines()
    log: list[tuple[str, float, float]] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deadlines.run)
        deadlines.schedule(Recorder("late", log), start + 30)
        await trio.sleep(1)
        # Scheduled after the task went to sleep until +30: it must wake earlier.
        deadlines.schedule(Recorder("early", log), start + 5)
        deadlines.schedule(Recorder("middle", log), start + 10)
        await trio.sleep(40)
        nursery.cancel_scope.cancel()
    assert [name for name, _, _ in log] == ["early", "middle", "late"]
    for _, at, now in log:
        assert now == pytest.approx(at, abs=0.01)
    assert len(deadlines) == 0


async def test_a_failing_deadline_handler_does_not_stop_the_others(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def deadline_reached(self, at: float, now: float) -> None:
            raise RuntimeError("handler bug")

    deadlines = Deadlines()
    log: list[tuple[str, float, float]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deadlines.run)
        deadlines.schedule(Broken(), trio.current_time() + 1)
        deadlines.schedule(Recorder("after", log), trio.current_time() + 2)
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    assert [name for name, _, _ in log] == ["after"]
    assert "handler bug" in caplog.text


class Socket:
    """A front end's direct send: takes ``room`` bytes of each write; None when full."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written: list[list[str | bytes]] = []

    def send(self, frames: Sequence[str | bytes]) -> int | None:
        if self.room <= 0:
            return None
        self.written.append(list(frames))
        size = sum(len(frame) for frame in frames)
        taken = min(self.room, size)
        self.room -= taken
        return size - taken


@asynccontextmanager
async def direct_writes() -> AsyncIterator[DirectWrites]:
    """The engine's round of direct writes, running."""
    writes = DirectWrites()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writes.run)
        yield writes
        nursery.cancel_scope.cancel()


async def test_put_direct_waits_for_the_round_which_writes_a_client_s_frames_at_once() -> None:
    outbox = Outbox(limit=10)
    socket = Socket(room=100)
    taken: list[list[str | bytes]] = []
    async with direct_writes() as writes:

        async def taker() -> None:
            taken.append(await outbox.take(socket.send, writes))

        assert outbox.put_direct("before")  # no taker waits: queued, for the taker
        async with trio.open_nursery() as nursery:
            nursery.start_soon(taker)
            await trio.testing.wait_all_tasks_blocked()
            assert taken == [["before"]]
            nursery.start_soon(taker)
            await trio.testing.wait_all_tasks_blocked()
            rounds = writes.rounds
            for frame in ("a", "b", "c"):
                assert outbox.put_direct(frame)
            # Nothing written and nobody woken yet: the frames count as queued.
            assert socket.written == []
            assert outbox.awaited
            assert len(outbox) == 3
            assert outbox.held == 3 * (1 + FRAME_OVERHEAD)
            await trio.testing.wait_all_tasks_blocked()
            # One round, one write for the three, and the taker never woke.
            assert writes.rounds == rounds + 1
            assert socket.written == [["a", "b", "c"]]
            assert outbox.awaited
            assert not outbox
            assert outbox.held == 0
            # Something put before the round wakes the taker: it takes the frames waiting
            # for the round too, in order, and the round writes nothing.
            assert outbox.put_direct("d")
            assert outbox.put("queued")
            assert outbox.put_direct("e")
            await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["a", "b", "c"]]
        assert taken == [["before"], ["d", "queued", "e"]]


async def test_a_full_socket_leaves_the_frames_to_the_taker_and_a_partial_write_wakes_it() -> None:
    budget = SharedBudget(limit=1000, on_exceeded=lambda: None)
    outbox = Outbox(limit=10, shared=budget)
    socket = Socket(room=4)
    taken: list[list[str | bytes]] = []
    async with direct_writes() as writes:

        async def taker() -> None:
            taken.append(await outbox.take(socket.send, writes))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(taker)
            await trio.testing.wait_all_tasks_blocked()
            assert outbox.put_direct("abc")
            assert outbox.put_direct("def")
            await trio.testing.wait_all_tasks_blocked()
        # 4 bytes taken, 2 left with the front end: the taker is woken with nothing to
        # finish them, and they count until it comes back.
        assert socket.written == [["abc", "def"]]
        assert taken == [[]]
        assert outbox.held == budget.held == 2 + FRAME_OVERHEAD
        async with trio.open_nursery() as nursery:
            nursery.start_soon(taker)
            await trio.testing.wait_all_tasks_blocked()
            assert outbox.held == budget.held == 0
            # The socket takes nothing now: the round wakes the taker, which writes it.
            assert outbox.put_direct("full")
            await trio.testing.wait_all_tasks_blocked()
        assert taken[-1] == ["full"]
        assert socket.written == [["abc", "def"]]
        assert outbox.held == budget.held == len("full") + FRAME_OVERHEAD


async def test_frames_waiting_for_the_round_count_against_the_limits() -> None:
    outbox = Outbox(limit=2, byte_limit=1000)
    socket = Socket(room=100)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        nursery.start_soon(outbox.take, socket.send, writes)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put_direct("a")
        assert outbox.put_direct("b")
        # A slow consumer is found before the round, as when the frames were queued.
        assert not outbox.put_direct("c")
        outbox.close(discard=True)
    assert socket.written == []
    assert outbox.held == 0


async def test_a_cancelled_or_closed_taker_stops_direct_sends() -> None:
    outbox = Outbox(limit=10)
    socket = Socket(room=100)
    async with direct_writes() as writes:
        with trio.move_on_after(0.01):
            await outbox.take(socket.send, writes)
        assert outbox.put_direct("after cancel")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == []
        assert await outbox.take(socket.send, writes) == ["after cancel"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.take, socket.send, writes)
            await trio.testing.wait_all_tasks_blocked()
            outbox.close()
        assert outbox.put_direct("after close")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == []


async def test_a_failing_direct_write_is_logged_and_the_rounds_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(frames: Sequence[str | bytes]) -> int | None:
        raise RuntimeError("front end bug")

    failing, working = Outbox(limit=10), Outbox(limit=10)
    socket = Socket(room=100)
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        nursery.start_soon(failing.take, broken, writes)
        nursery.start_soon(working.take, socket.send, writes)
        await trio.testing.wait_all_tasks_blocked()
        assert failing.put_direct("a")
        assert working.put_direct("b")
        await trio.testing.wait_all_tasks_blocked()
        assert working.put_direct("c")
        await trio.testing.wait_all_tasks_blocked()
        assert socket.written == [["b"], ["c"]]
        failing.close()
        working.close()
    assert "a direct write failed" in caplog.text
    assert "front end bug" in caplog.text


# put_direct_many: one loop for a broadcast's recipients, the same as put_direct for each.

# How an outbox stands when a broadcast reaches it: its writer parked with a direct send
# (twice: once already marked for the round), parked without one (a polling GET), busy
# writing (no taker), closed, or busy and at its frame or byte limit.
STATES = ("direct", "marked", "parked", "busy", "closed", "frames_full", "bytes_full")


class World:
    """Outboxes of one address in the given states, their takers parked, and a log of what
    their owners were told (on_full) and of the address's budget going over its limit."""

    def __init__(self, states: Sequence[str], budget_limit: int) -> None:
        self.log: list[str] = []
        self.budget = SharedBudget(budget_limit, self._exceeded)
        self.outboxes = [
            Outbox(limit=3, byte_limit=200, shared=self.budget, on_full=self._full(index))
            for index in range(len(states))
        ]
        self.states = states
        self.sockets = [Socket(room=10_000) for _ in states]
        self.taken: list[list[list[str | bytes]]] = [[] for _ in states]

    def _full(self, index: int) -> Callable[[], None]:
        def full() -> None:
            self.log.append(f"full {index}")
            self.outboxes[index].close(discard=True)  # as the session drops its client

        return full

    def _exceeded(self) -> None:
        # As the engine: the client of the address holding the most is dropped.
        biggest = max(range(len(self.outboxes)), key=lambda index: self.outboxes[index].held)
        self.log.append(f"exceeded: drop {biggest}")
        self.outboxes[biggest].close(discard=True)

    async def start(self, nursery: trio.Nursery, writes: DirectWrites) -> None:
        for index, (state, outbox) in enumerate(zip(self.states, self.outboxes, strict=True)):
            if state in ("frames_full", "bytes_full"):
                outbox.put("x" * (150 if state == "bytes_full" else 1))
                if state == "frames_full":
                    outbox.put("y")
                    outbox.put("z")
            if state == "closed":
                outbox.close()
            elif state in ("direct", "marked", "parked"):
                direct = (self.sockets[index].send, writes) if state != "parked" else ()
                nursery.start_soon(self._taker, index, *direct)
        await trio.testing.wait_all_tasks_blocked()
        for index, state in enumerate(self.states):
            if state == "marked":
                assert self.outboxes[index].put_direct("first")

    async def _taker(self, index: int, *direct: Any) -> None:
        while True:
            frames = await self.outboxes[index].take(*direct)
            self.taken[index].append(frames)
            if not frames and self.outboxes[index].closed:
                return

    def observed(self) -> tuple[object, ...]:
        return (
            self.log,
            self.budget.held,
            [(list(outbox._frames), outbox.held, outbox.closed) for outbox in self.outboxes],
            [socket.written for socket in self.sockets],
            self.taken,
        )


@pytest.mark.parametrize("budget_limit", [10_000, 500])
async def test_put_direct_many_does_what_put_direct_does_for_each_outbox(
    budget_limit: int,
) -> None:
    # Every state twice, in an order where a drop for the address's budget (the tighter
    # limit) happens mid-loop and changes what the outboxes after it get.
    states = [*STATES, *reversed(STATES)]
    frames = ["a" * 40, "b" * 40, "c" * 40]
    worlds: list[World] = []
    for many in (False, True):
        world = World(states, budget_limit)
        async with direct_writes() as writes, trio.open_nursery() as nursery:
            await world.start(nursery, writes)
            for frame in frames:
                if many:
                    world.outboxes[0].put_direct_many(world.outboxes, frame)
                else:
                    for outbox in world.outboxes:
                        if not outbox.put_direct(frame) and outbox.on_full is not None:
                            outbox.on_full()
                # The round runs between two broadcasts for some, not for others.
                await trio.testing.wait_all_tasks_blocked()
            for outbox in world.outboxes:
                outbox.close()
        worlds.append(world)
    one_by_one, in_one_loop = worlds
    assert in_one_loop.observed() == one_by_one.observed()
    # The comparison is not of two empty worlds: frames went out directly and through
    # woken takers, and outboxes were dropped.
    log = in_one_loop.log
    assert "full 5" in log
    if budget_limit == 500:
        # Dropped for the address's budget: first the biggest, then some mid-loop.
        assert log.count("exceeded: drop 3") == 1
    else:
        assert "full 6" in log
        assert not any(entry.startswith("exceeded") for entry in log)
        expected = [["a" * 40], ["b" * 40], ["c" * 40]]
        assert in_one_loop.sockets[STATES.index("direct")].written == expected
        assert in_one_loop.taken[STATES.index("parked")][:3] == expected
        assert in_one_loop.outboxes[STATES.index("busy")]._frames == [frame for [frame] in expected]


async def test_put_direct_many_marks_each_outbox_once_and_the_round_writes_each_once() -> None:
    outboxes = [Outbox(limit=10) for _ in range(3)]
    sockets = [Socket(room=100) for _ in outboxes]
    async with direct_writes() as writes, trio.open_nursery() as nursery:
        for outbox, socket in zip(outboxes, sockets, strict=True):
            nursery.start_soon(outbox.take, socket.send, writes)
        await trio.testing.wait_all_tasks_blocked()
        rounds = writes.rounds
        for frame in ("a", "b"):
            outboxes[0].put_direct_many(outboxes, frame)
        # Nobody woken, nothing written before the round.
        assert all(outbox.awaited and len(outbox) == 2 for outbox in outboxes)
        assert all(socket.written == [] for socket in sockets)
        await trio.testing.wait_all_tasks_blocked()
        assert writes.rounds == rounds + 1
        assert [socket.written for socket in sockets] == [[["a", "b"]]] * 3
        nursery.cancel_scope.cancel()
