"""The chat's wire as its load clients speak it: WebSocket frames (RFC 6455, client side),
a lean WebSocket client, and the Engine.IO/Socket.IO packets on the default namespace."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
import trio

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WireError(Exception):
    """The server broke the websocket or Engine.IO protocol as this client understands it."""


def parse_frames(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete server frames at the start of buf as (first header byte, payload); bytes used.

    Server frames are never masked (RFC 6455 5.1); a masked one is a protocol error.
    """
    frames: list[tuple[int, bytes]] = []
    pos = 0
    size = len(buf)
    while size - pos >= 2:
        b1 = buf[pos + 1]
        if b1 & 0x80:
            raise WireError("masked frame from the server")
        length = b1 & 0x7F
        header = 2
        if length == 126:
            if size - pos < 4:
                break
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            header = 4
        elif length == 127:
            if size - pos < 10:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            header = 10
        end = pos + header + length
        if end > size:
            break
        frames.append((buf[pos], bytes(buf[pos + header : end])))
        pos = end
    return frames, pos


def client_frame_head(
    opcode: int, size: int, *, final: bool = True, mask: bytes = b"\0\0\0\0"
) -> bytes:
    """The head of a client frame of ``size`` payload bytes, ending in its masking key.

    With the default key of zeros the payload goes out as it is: tests and attacks build
    frames no library would send (unfinished, huge) without materialising the payload.
    """
    first = (0x80 if final else 0) | opcode
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return bytes([first]) + length + mask


def encode_client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final, masked client frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4) if mask is None else mask
    size = len(payload)
    # XOR through one big integer: far cheaper in Python than a per-byte loop.
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )
    return client_frame_head(opcode, size, mask=mask) + masked


def websocket_accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def event_packet(event: str, args: Sequence[Any], ack_id: int | None = None) -> str:
    """A Socket.IO EVENT on "/" (``42[event, *args]``), with an ack id when one is given."""
    body = orjson.dumps([event, *args]).decode()
    return f"42{body}" if ack_id is None else f"42{ack_id}{body}"


def parse_ack(frame: bytes | str) -> tuple[int, list[Any]] | None:
    """(ack id, ack args) of a Socket.IO ACK packet ``43<id>[...]`` on "/", else None."""
    data = frame.encode() if isinstance(frame, str) else frame
    if not data.startswith(b"43"):
        return None
    bracket = data.find(b"[")
    if bracket <= 2 or not data[2:bracket].isdigit():
        return None
    args = orjson.loads(data[bracket:])
    return (int(data[2:bracket]), args) if isinstance(args, list) else None


def split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "ws", ""):
        raise ValueError(f"only plain http/ws URLs are supported, not {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = (parts.path.rstrip("/") or "") + "/socket.io/"
    return host, port, f"{path}?EIO=4&transport=websocket"


class LeanWebSocket:
    """A minimal websocket client on a trio stream, batching every frame of one read.

    trio-websocket pays a scheduler round trip and wsproto's per-frame machinery for each
    message (about 30 us here); this one parses a whole TCP read in one pass, which is what
    lets one process receive tens of thousands of deliveries a second.
    """

    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self._stream = stream
        self._buf = bytearray(leftover)
        self._send_lock = trio.Lock()
        self._fragments: list[bytes] = []
        self._closed = False

    @classmethod
    async def connect(cls, host: str, port: int, target: str) -> LeanWebSocket:
        stream = await trio.open_tcp_stream(host, port)
        try:
            key = base64.b64encode(os.urandom(16))
            request = (
                (
                    f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                ).encode()
                + b"Sec-WebSocket-Key: "
                + key
                + b"\r\n\r\n"
            )
            await stream.send_all(request)
            response = bytearray()
            while b"\r\n\r\n" not in response:
                if len(response) > 65536:
                    raise WireError("oversized handshake response")
                data = await stream.receive_some(65536)
                if not data:
                    raise WireError("connection closed during the websocket handshake")
                response += data
            head, _, rest = bytes(response).partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            if b" 101 " not in lines[0] + b" ":
                raise WireError(f"handshake refused: {lines[0].decode(errors='replace')}")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"sec-websocket-accept") != websocket_accept(key):
                raise WireError("bad Sec-WebSocket-Accept")
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return cls(stream, rest)

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        frame = encode_client_frame(opcode, payload)
        async with self._send_lock:
            await self._stream.send_all(frame)

    async def send_text(self, text: str) -> None:
        await self._send_frame(OP_TEXT, text.encode())

    async def send_bytes(self, data: bytes) -> None:
        """Bytes as they are, for frames this client would not make (see
        ``client_frame_head``)."""
        async with self._send_lock:
            await self._stream.send_all(data)

    async def receive_frames(self) -> list[bytes]:
        while not self._closed:
            frames, used = parse_frames(self._buf)
            if used:
                del self._buf[:used]
            messages = await self._handle(frames)
            if messages:
                return messages
            if self._closed:
                break
            data = await self._stream.receive_some(262144)
            if not data:
                self._closed = True
                break
            self._buf += data
        return []

    async def _handle(self, frames: list[tuple[int, bytes]]) -> list[bytes]:
        messages: list[bytes] = []
        for first, payload in frames:
            opcode = first & 0x0F
            if first & 0x80 and opcode in (OP_TEXT, OP_BINARY):
                messages.append(payload)
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                self._fragments.append(payload)
                if first & 0x80:
                    messages.append(b"".join(self._fragments))
                    self._fragments.clear()
            elif opcode == OP_PING:
                await self._send_frame(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._send_frame(OP_CLOSE, payload[:2])
                self._closed = True
                break
        return messages

    def detach(self) -> tuple[socket.socket, bytes]:
        """Hand the connection over to code that reads it without trio (``benchkit.bulk``):
        the non-blocking socket, and the bytes already read from it but not parsed. This
        object is closed afterwards; the socket is the caller's to close."""
        trio_socket = self._stream.socket
        # trio must forget the descriptor before it is reused by another socket.
        trio.lowlevel.notify_closing(trio_socket)
        sock = socket.socket(fileno=trio_socket.detach())
        self._closed = True
        leftover, self._buf = bytes(self._buf), bytearray()
        return sock, leftover

    async def aclose(self) -> None:
        self._closed = True
        await trio.aclose_forcefully(self._stream)
