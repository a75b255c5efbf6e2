"""The engine's per-session frame queue and its shared deadline task, on their own."""

import pytest
import trio
import trio.testing

from minidiscord.engine.deadlines import Deadlines
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
    """A front end's direct send: takes ``room`` bytes of each message; None when full."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written: list[str | bytes] = []

    def send(self, frame: str | bytes) -> int | None:
        if self.room <= 0:
            return None
        self.written.append(frame)
        taken = min(self.room, len(frame))
        self.room -= taken
        return len(frame) - taken


async def test_put_direct_writes_while_the_taker_waits_and_queues_once_it_is_woken() -> None:
    outbox = Outbox(limit=10)
    socket = Socket(room=100)
    taken: list[list[str | bytes]] = []

    async def taker() -> None:
        taken.append(await outbox.take(socket.send))

    assert outbox.put_direct("before")  # no taker waits: queued
    assert socket.written == []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [["before"]]
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put_direct("a")
        assert outbox.put_direct("b")
        assert socket.written == ["a", "b"]
        assert outbox.awaited
        assert not outbox
        assert outbox.held == 0
        # Something queued (the taker is woken, not yet back): behind it, never past it.
        assert outbox.put("queued")
        assert outbox.put_direct("c")
        assert socket.written == ["a", "b"]
    assert taken == [["before"], ["queued", "c"]]


async def test_a_full_socket_queues_and_a_partial_write_wakes_the_taker_with_nothing() -> None:
    budget = SharedBudget(limit=1000, on_exceeded=lambda: None)
    outbox = Outbox(limit=10, shared=budget)
    socket = Socket(room=4)
    taken: list[list[str | bytes]] = []

    async def taker() -> None:
        taken.append(await outbox.take(socket.send))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put_direct("abcdef")  # 4 bytes taken, 2 left with the front end
        assert not outbox.awaited
        assert outbox.held == budget.held == 2 + FRAME_OVERHEAD
        assert outbox.put_direct("next")  # queued behind the rest
        assert socket.written == ["abcdef"]
    assert taken == [["next"]]
    held = 2 + len("next") + 2 * FRAME_OVERHEAD
    assert outbox.held == budget.held == held
    # Coming back means all of it was written: none of it counts any more.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.held == budget.held == 0
        assert outbox.put_direct("full")  # the socket takes nothing now: queued
    assert taken[-1] == ["full"]
    assert socket.written == ["abcdef"]


async def test_a_partial_write_alone_hands_the_taker_an_empty_batch_while_open() -> None:
    outbox = Outbox(limit=10)
    socket = Socket(room=1)
    async with trio.open_nursery() as nursery:

        async def taker() -> None:
            assert await outbox.take(socket.send) == []
            assert not outbox.closed

        nursery.start_soon(taker)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.put_direct("xy")
    assert outbox.held == 1 + FRAME_OVERHEAD
    outbox.close(discard=True)
    assert outbox.held == 0
    assert outbox.put_direct("after close")
    assert socket.written == ["xy"]


async def test_a_cancelled_or_closed_taker_stops_direct_sends() -> None:
    outbox = Outbox(limit=10)
    socket = Socket(room=100)
    with trio.move_on_after(0.01):
        await outbox.take(socket.send)
    assert outbox.put_direct("after cancel")
    assert socket.written == []
    assert await outbox.take(socket.send) == ["after cancel"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.take, socket.send)
        await trio.testing.wait_all_tasks_blocked()
        outbox.close()
    assert outbox.put_direct("after close")
    assert socket.written == []
