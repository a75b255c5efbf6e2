"""Raw Engine.IO/Socket.IO clients for protocol edge cases: frames by hand, nothing hidden."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url


@dataclass
class RawWebSocket:
    ws: WebSocketConnection
    sid: str
    handshake: dict[str, Any]

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send_message(frame)

    async def receive(self) -> str | bytes:
        return await self.ws.get_message()

    async def text(self) -> str:
        """The next frame that is not a ping, which must be a text frame."""
        frame = await self.receive_skipping_pings()
        assert isinstance(frame, str), frame
        return frame

    async def join(self, auth: str = "") -> str:
        """Connect to the default namespace (``auth`` as JSON text); the CONNECT answer."""
        await self.send(f"40{auth}")
        answer = await self.text()
        assert answer.startswith("40{"), answer
        return answer

    async def receive_skipping_pings(self) -> str | bytes:
        """The next frame that is not a ping (pings are answered)."""
        while True:
            frame = await self.ws.get_message()
            if frame == "2":
                await self.ws.send_message("3")
                continue
            return frame


@asynccontextmanager
async def raw_websocket(
    ws_url: str,
    query: str = "EIO=4&transport=websocket",
    path: str = "/socket.io/",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[RawWebSocket]:
    """A WebSocket session that received its Engine.IO open packet; ``headers`` go with
    the handshake."""
    async with open_websocket_url(f"{ws_url}{path}?{query}", extra_headers=headers) as ws:
        opening = await ws.get_message()
        assert isinstance(opening, str), opening
        assert opening.startswith("0"), opening
        handshake = json.loads(opening[1:])
        yield RawWebSocket(ws, handshake["sid"], handshake)


async def polling_handshake(
    client: httpx.AsyncClient, url: str, path: str = "/socket.io/"
) -> dict[str, Any]:
    response = await client.get(f"{url}{path}", params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 200, response.text
    assert response.text.startswith("0")
    handshake: dict[str, Any] = json.loads(response.text[1:])
    return handshake


async def polling_connect(
    client: httpx.AsyncClient, url: str, auth: str = "", path: str = "/socket.io/"
) -> str:
    """A polling session that joined the default namespace (no longer half-open); its sid."""
    sid = str((await polling_handshake(client, url, path))["sid"])
    await client.post(polling_url(url, sid, path), content=f"40{auth}")
    answer = (await client.get(polling_url(url, sid, path))).text
    assert answer.startswith("40{"), answer
    return sid


def polling_url(url: str, sid: str, path: str = "/socket.io/") -> str:
    return f"{url}{path}?EIO=4&transport=polling&sid={sid}"


async def read_to_end(stream: trio.abc.ReceiveStream, *, reset_ends: bool = False) -> bytes:
    """Every byte the server sends before it closes the connection. A reset fails the test
    unless ``reset_ends``: a server that closes with the client's bytes unread resets."""
    answer = b""
    try:
        while data := await stream.receive_some(65536):
            answer += data
    except trio.BrokenResourceError:
        if not reset_ends:
            raise
    return answer


async def read_until_closed(client: RawWebSocket) -> list[str | bytes]:
    """Every frame the server still sends, until it closes the connection."""
    frames: list[str | bytes] = []
    try:
        while True:
            frames.append(await client.receive())
    except ConnectionClosed:
        return frames


async def polling_by_hand(port: int) -> tuple[trio.SocketStream, str]:
    """A TCP stream that opened a polling session by hand (one GET), and its sid, for
    requests no HTTP library would send."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    opening = b""
    with trio.fail_after(10):
        while b"maxPayload" not in opening:
            opening += await stream.receive_some(4096)
    return stream, opening.split(b'"sid":"')[1].split(b'"')[0].decode()


def websocket_request(headers: bytes = b"", host: bytes = b"localhost") -> bytes:
    """An Engine.IO WebSocket handshake request written by hand; ``headers`` are extra
    header lines, each ending in CRLF."""
    return (
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + headers + b"\r\n"
    )


async def websocket_handshake_head(
    port: int, headers: bytes = b"", host: bytes = b"localhost"
) -> bytes:
    """The head of the server's answer to ``websocket_request(headers, host)``, in lower
    case (what follows may be compressed, or nothing: no helper that reads frames would
    do)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(websocket_request(headers, host))
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer and (data := await stream.receive_some(4096)):
                answer += data
    finally:
        await trio.aclose_forcefully(stream)
    return answer.split(b"\r\n\r\n", 1)[0].lower()


async def websocket_by_hand(port: int, headers: bytes = b"") -> tuple[trio.SocketStream, bytes]:
    """A TCP stream that made a WebSocket handshake with the engine by hand, and what the
    server sent after it (the Engine.IO open packet's frame), for frames no library sends.
    ``headers`` are extra header lines, each ending in CRLF."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(websocket_request(headers))
    answer = b""
    with trio.fail_after(10):
        while b"maxPayload" not in answer:
            answer += await stream.receive_some(4096)
    return stream, answer
