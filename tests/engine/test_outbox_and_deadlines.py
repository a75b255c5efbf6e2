"""The engine's per-session frame queue and its shared deadline task, on their own."""

import pytest
import trio
import trio.testing

from minidiscord.engine.deadlines import Deadlines
from minidiscord.engine.outbox import Outbox


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
