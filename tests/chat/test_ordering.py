"""The Sequencer releases concurrent senders in ticket order, whatever order they finish in."""

import pytest
import trio
import trio.testing

from minidiscord.chat.ordering import Sequencer


async def test_turns_follow_tickets_not_finishing_order(autojump_clock: trio.abc.Clock) -> None:
    sequencer = Sequencer()
    published: list[int] = []
    # Later tickets finish their "store call" first.
    delays = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]

    async def sender(ticket: int, delay: float) -> None:
        await trio.sleep(delay)
        await sequencer.wait(ticket)
        published.append(ticket)
        sequencer.release(ticket)

    async with trio.open_nursery() as nursery:
        for delay in delays:
            nursery.start_soon(sender, sequencer.take(), delay)
        await trio.testing.wait_all_tasks_blocked()
        assert sequencer.in_flight == len(delays)
    assert published == list(range(len(delays)))
    assert sequencer.in_flight == 0


async def test_first_ticket_does_not_wait() -> None:
    sequencer = Sequencer()
    ticket = sequencer.take()
    later = sequencer.take()
    assert sequencer.due(ticket)
    assert not sequencer.due(later)
    with trio.fail_after(1):
        await sequencer.wait(ticket)
    sequencer.release(ticket)
    assert sequencer.due(later)
    sequencer.release(later)
    assert sequencer.in_flight == 0


async def test_out_of_turn_release_is_a_bug() -> None:
    sequencer = Sequencer()
    sequencer.take()
    second = sequencer.take()
    with pytest.raises(RuntimeError, match="out of turn"):
        sequencer.release(second)


async def test_a_waiter_blocks_until_the_earlier_ticket_is_released() -> None:
    sequencer = Sequencer()
    first = sequencer.take()
    second = sequencer.take()
    done = trio.Event()

    async def later() -> None:
        await sequencer.wait(second)
        done.set()
        sequencer.release(second)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        sequencer.release(first)
    assert done.is_set()
