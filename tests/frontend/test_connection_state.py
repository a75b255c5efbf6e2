"""The native front end's connection state: the WebSocket table and the shared context."""

import trio
import trio.testing

from minidiscord.addresses import TrustedProxies
from minidiscord.asgi_io import Receive, Scope, Send
from minidiscord.frontend.connlimits import ConnectionLimits
from minidiscord.frontend.context import ConnectionContext, FrontendConfig
from minidiscord.frontend.websocket import WEBSOCKET_TRANSITIONS, WebSocketState
from tests.support.transitions import assert_moves

State = WebSocketState
LEGAL = {
    (State.HANDSHAKE, State.OPEN),  # the app accepted
    (State.HANDSHAKE, State.REFUSED),  # it answered with an HTTP response, or failed
    (State.HANDSHAKE, State.CLOSED),  # the client left before any answer
    (State.OPEN, State.CLOSING),  # we sent our close frame
    (State.OPEN, State.CLOSED),  # the client closed, or went away
    (State.CLOSING, State.CLOSED),  # the client answered our close, or went away
}


def test_websocket_transitions_follow_the_table() -> None:
    assert_moves(WEBSOCKET_TRANSITIONS, WebSocketState, LEGAL)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


def _context() -> ConnectionContext:
    return ConnectionContext(
        _no_app, FrontendConfig(), ConnectionLimits(None, 100, TrustedProxies(()))
    )


async def test_shutdown_ends_every_idle_wait_and_any_that_starts_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    context = _context()
    ended: list[float] = []

    async def wait_for_a_request() -> None:
        with context.idle_wait(45.0):
            await trio.sleep_forever()
        ended.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_a_request)
        nursery.start_soon(wait_for_a_request)
        await trio.sleep(1.0)
        context.shut_down()
    assert ended == [1.0, 1.0]
    assert context.shutting_down
    # A connection that reaches its idle wait just after the shutdown does not linger.
    await wait_for_a_request()
    assert ended[-1] == 1.0


async def test_an_idle_wait_ends_after_its_timeout(autojump_clock: trio.testing.MockClock) -> None:
    context = _context()
    with context.idle_wait(45.0) as wait:
        await trio.sleep_forever()
    assert wait.cancelled_caught
    assert trio.current_time() == 45.0
