"""The session's transport state table, judged move by move, and the session methods that
make each move (no server, no transport)."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from minidiscord.engine.reasons import CloseReason
from minidiscord.engine.session import EngineConfig, EngineSession, RequestInfo
from minidiscord.engine.state import INITIAL, TRANSITIONS, TransportState, check_transition
from minidiscord.transitions import IllegalTransition
from tests.support.transitions import assert_moves

S = TransportState
# Written out here rather than read from TRANSITIONS: the test states what the engine
# must allow, so a changed table fails it.
LEGAL: set[tuple[TransportState, TransportState]] = {
    (S.POLLING, S.PROBING),
    (S.POLLING, S.CLOSING),
    (S.PROBING, S.UPGRADING),
    (S.PROBING, S.POLLING),
    (S.PROBING, S.CLOSING),
    (S.UPGRADING, S.WEBSOCKET),
    (S.UPGRADING, S.POLLING),
    (S.UPGRADING, S.CLOSING),
    (S.WEBSOCKET, S.CLOSING),
    (S.CLOSING, S.CLOSED),
}


def test_the_table_allows_exactly_these_moves() -> None:
    assert_moves(TRANSITIONS, TransportState, LEGAL)
    assert {S.POLLING, S.WEBSOCKET} == INITIAL


def test_an_illegal_move_names_the_session() -> None:
    with pytest.raises(
        IllegalTransition, match="session abc: no transition from CLOSED to POLLING"
    ):
        check_transition("abc", S.CLOSED, S.POLLING)


class _Host:
    """A session host that keeps nothing (the tests drive the session by hand)."""

    def __init__(self) -> None:
        self.ended: list[EngineSession] = []

    def schedule(self, session: EngineSession, at: float) -> None:
        pass

    def spawn(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        pass

    def session_established(self, session: EngineSession) -> None:
        pass

    def session_ended(self, session: EngineSession) -> None:
        self.ended.append(session)


def _session(transport: str = "polling") -> EngineSession:
    return EngineSession("sid", transport, EngineConfig(), RequestInfo("127.0.0.1:1"), _Host())


def _state(session: EngineSession) -> TransportState:
    # A call, not the property: mypy would keep the state narrowed across the moves.
    return session.state


async def test_a_session_starts_on_the_transport_that_opened_it() -> None:
    assert _state(_session("polling")) is S.POLLING
    websocket = _session("websocket")
    assert _state(websocket) is S.WEBSOCKET
    assert websocket.transport == "websocket"


async def test_an_upgrade_moves_through_probing_and_upgrading() -> None:
    session = _session()
    assert session.begin_upgrade()
    assert _state(session) is S.PROBING
    # One upgrade at a time.
    assert not session.begin_upgrade()
    session.probe_answered()
    assert _state(session) is S.UPGRADING
    assert session.transport == "polling"
    session.finish_upgrade()
    assert _state(session) is S.WEBSOCKET
    assert session.transport == "websocket"
    # Ending the finished attempt changes nothing; no second upgrade.
    session.end_upgrade()
    assert _state(session) is S.WEBSOCKET
    assert not session.begin_upgrade()


@pytest.mark.parametrize("probed", [False, True])
async def test_a_failed_upgrade_returns_to_polling(probed: bool) -> None:
    session = _session()
    assert session.begin_upgrade()
    if probed:
        session.probe_answered()
    session.end_upgrade()
    assert _state(session) is S.POLLING
    assert session.begin_upgrade()


async def test_finishing_an_upgrade_that_never_began_is_a_bug() -> None:
    session = _session()
    with pytest.raises(IllegalTransition):
        session.finish_upgrade()
    # Unprobed: the WebSocket cannot take over yet.
    assert session.begin_upgrade()
    with pytest.raises(IllegalTransition):
        session.finish_upgrade()
    assert _state(session) is S.PROBING


async def test_closing_during_an_upgrade_ends_it() -> None:
    session = _session()
    assert session.begin_upgrade()
    session.close(CloseReason.FORCED_CLOSE, flush=False)
    assert _state(session) is S.CLOSING
    assert session.closed
    # The upgrade task ends after the close: the session stays closing.
    session.probe_answered()
    session.end_upgrade()
    assert _state(session) is S.CLOSING
    assert not session.begin_upgrade()


async def test_a_closed_session_ends_closed() -> None:
    session = _session("websocket")
    session.close(CloseReason.TRANSPORT_CLOSE, flush=False)
    session.close(CloseReason.PING_TIMEOUT)  # a second close changes nothing
    assert session.close_reason is CloseReason.TRANSPORT_CLOSE
    await session._finish()
    assert _state(session) is S.CLOSED


async def test_one_poll_and_one_post_at_a_time() -> None:
    session = _session()
    assert session.begin_poll()
    assert not session.begin_poll()
    assert session.begin_post()
    assert not session.begin_post()
    session.end_poll()
    session.end_post()
    assert session.begin_poll()
    assert session.begin_post()
