"""Raw protocol clients for the conformance tests: HTTP long-polling with httpx, WebSocket
with trio-websocket. They speak the wire format directly so the tests check bytes, not a
client library's interpretation of them."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

# Every wait is bounded: a server that never answers fails the test instead of hanging it.
WAIT = 5.0
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000
HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@dataclass(frozen=True)
class Target:
    base: str  # http://host:port
    path: str  # /engine.io/ or /socket.io/
    echoes: bool  # the Engine.IO reference server echoes every message

    def url(self, **params: str) -> str:
        return f"{self.base}{self.path}?{urlencode(params)}"

    def ws_url(self, **params: str) -> str:
        return self.url(**params).replace("http://", "ws://", 1)

    def polling(self, sid: str) -> str:
        return self.url(EIO="4", transport="polling", sid=sid)


async def open_polling(http: httpx.AsyncClient, target: Target) -> tuple[str, dict[str, Any]]:
    """Open a polling session; returns its sid and the handshake."""
    response = await http.get(target.url(EIO="4", transport="polling"))
    assert response.status_code == 200, response.text
    assert response.text.startswith("0"), response.text
    handshake: dict[str, Any] = json.loads(response.text[1:])
    return handshake["sid"], handshake


async def poll(http: httpx.AsyncClient, target: Target, sid: str) -> httpx.Response:
    with trio.fail_after(WAIT):
        return await http.get(target.polling(sid))


async def push(
    http: httpx.AsyncClient, target: Target, sid: str, body: str | bytes
) -> httpx.Response:
    with trio.fail_after(WAIT):
        return await http.post(target.polling(sid), content=body)


def error(response: httpx.Response) -> tuple[int, Any, Any]:
    """Status, Engine.IO error code and message of an error answer."""
    body = response.json()
    return response.status_code, body.get("code"), body.get("message")


@asynccontextmanager
async def websocket(url: str) -> AsyncIterator[WebSocketConnection]:
    with trio.fail_after(WAIT):
        async with open_websocket_url(url) as ws:
            yield ws


async def receive(ws: WebSocketConnection, *, answer_pings: bool = True) -> str | bytes:
    """The next message, answering (and skipping) the server's pings unless told not to."""
    with trio.fail_after(WAIT):
        while True:
            message = await ws.get_message()
            if message == "2" and answer_pings:
                await ws.send_message("3")
                continue
            return message


async def receive_many(ws: WebSocketConnection, count: int) -> list[str | bytes]:
    return [await receive(ws) for _ in range(count)]


async def expect_closed(ws: WebSocketConnection, *, answer_pings: bool = True) -> None:
    """Wait until the server closes the connection, failing on any message but a ping."""
    with trio.fail_after(WAIT):
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed:
                return
            assert message == "2", f"expected the connection to close, got {message!r}"
            if answer_pings:
                await ws.send_message("3")


async def expect_refused(url: str) -> None:
    """A WebSocket the server must refuse: rejected at the handshake or closed before OPEN."""
    with trio.fail_after(WAIT):
        try:
            async with open_websocket_url(url) as ws:
                message = await ws.get_message()
                raise AssertionError(f"expected a refusal, got {message!r}")
        except (HandshakeError, ConnectionClosed):
            return


async def expect_accepted_then_closed(url: str) -> None:
    """A WebSocket the server must accept, then close before sending anything: what the
    reference does with one it cannot use (standard clients see no error event)."""
    with trio.fail_after(WAIT):
        async with open_websocket_url(url) as ws:
            try:
                message = await ws.get_message()
            except ConnectionClosed:
                return
            raise AssertionError(f"expected the WebSocket to be closed, got {message!r}")


async def open_websocket_session(ws: WebSocketConnection) -> dict[str, Any]:
    message = await receive(ws)
    assert isinstance(message, str)
    assert message.startswith("0"), message
    handshake: dict[str, Any] = json.loads(message[1:])
    return handshake


async def connect_namespace(ws: WebSocketConnection, namespace: str = "/") -> str:
    """CONNECT to a namespace of the Socket.IO reference server; returns the socket id.

    The reference server emits "auth" right after the CONNECT answer; it is checked here.
    """
    prefix = "40" if namespace == "/" else f"40{namespace},"
    await ws.send_message(prefix)
    answer = await receive(ws)
    assert isinstance(answer, str)
    assert answer.startswith(prefix), answer
    sid = json.loads(answer[len(prefix) :])["sid"]
    event_prefix = "42" if namespace == "/" else f"42{namespace},"
    assert await receive(ws) == event_prefix + '["auth",{}]'
    assert isinstance(sid, str)
    return sid
