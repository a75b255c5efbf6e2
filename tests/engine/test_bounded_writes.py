"""What a transport writes to the client is bounded by its session (``EngineSession.writing``
and the WebSocket's scope): never while the session is open, cut off at once when it drops
the client, and at the flush deadline once it closes cleanly. On trio's MockClock."""

import trio
import trio.testing

from minidiscord.engine.reasons import CloseReason
from minidiscord.engine.session import FLUSH_TIMEOUT, EngineSession
from tests.engine.test_transport_state import _session


async def _stalled_write(session: EngineSession, ended: list[float]) -> None:
    """A write the client never takes: it ends only when the session cuts it off."""
    with session.writing():
        await trio.sleep_forever()
    ended.append(trio.current_time())


async def test_a_write_is_not_bounded_while_the_session_is_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    session = _session()
    with session.writing():
        # A client that reads slowly but keeps up is never cut off.
        await trio.sleep(1000 * FLUSH_TIMEOUT)
    assert not session.closed


async def test_a_dropped_clients_writes_are_cut_off_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    session = _session("websocket")
    ended: list[float] = []
    async with trio.open_nursery() as nursery:
        carrying = trio.CancelScope()
        session.websocket_started(carrying)
        nursery.start_soon(_stalled_write, session, ended)
        nursery.start_soon(_stalled_write, session, ended)
        await trio.testing.wait_all_tasks_blocked()
        started = trio.current_time()
        session.close(CloseReason.SLOW_CONSUMER, flush=False)
    assert ended == [started, started]
    assert carrying.cancel_called
    # What it writes after the drop (its close frame) gets until the flush deadline.
    with session.writing():
        await trio.sleep_forever()
    assert trio.current_time() == started + FLUSH_TIMEOUT


async def test_a_clean_close_gives_writes_until_the_flush_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    session = _session("websocket")
    ended: list[float] = []
    carrying = trio.CancelScope()
    session.websocket_started(carrying)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stalled_write, session, ended)
        await trio.testing.wait_all_tasks_blocked()
        closed = trio.current_time()
        session.close(CloseReason.FORCED_CLOSE)
        assert not carrying.cancel_called
        assert carrying.deadline == closed + FLUSH_TIMEOUT
        await trio.sleep(FLUSH_TIMEOUT / 2)
        # Started after the close: the same deadline, not a new one.
        nursery.start_soon(_stalled_write, session, ended)
    assert ended == [closed + FLUSH_TIMEOUT] * 2
    # A WebSocket that starts carrying a closed session gets the same deadline.
    late = trio.CancelScope()
    session.websocket_started(late)
    assert late.deadline == closed + FLUSH_TIMEOUT
