"""The frame floor: a server that only writes pre-built frames, to calibrate the load generator.

It speaks just enough Engine.IO 4 / Socket.IO 5 over websocket that ``scripts/loadtest.py``
connects to it as to the chat (the open packet, CONNECT, pings, ``message:channel:send``
with its ack, ``/metrics`` with ``minidiscord_frames_delivered_total``, and the polling
handshake that ``benchkit.processes.HANDSHAKE`` probes), and it does as little as a server
can per delivery: one thread, one epoll, non-blocking sockets; each message is encoded once
into a frame, and every turn of the loop writes everything that arrived during the last
turn to each client in one ``send``. What a load generator takes from it is the most that
generator can receive (as long as this server has CPU to spare: run it on its own core).

Example: ``taskset -c 0 python -m scripts.floor_frames --port 9100``, then
``taskset -c 1 python -m scripts.loadtest --url http://127.0.0.1:9100 -c 1000 -s 10 -r 30``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import select
import socket
import time
from dataclasses import dataclass, field

import orjson

from benchkit.wire import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WireError,
    encode_client_frame,
    websocket_accept,
)

PING_INTERVAL_MS = 25_000
OPEN = orjson.dumps(
    {
        "sid": "floor",
        "upgrades": [],
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": 20_000,
        "maxPayload": 1_000_000,
    }
)
# A client that lets this much pile up unread is dropped, as a slow consumer.
MAX_PENDING = 16 * 1024 * 1024
SEND_EVENT = b'"message:channel:send"'


def server_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, unmasked frame (servers never mask)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


def parse_client_frames(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete client frames at the start of buf as (opcode, unmasked payload); bytes used."""
    frames: list[tuple[int, bytes]] = []
    pos, size = 0, len(buf)
    while size - pos >= 6:
        length = buf[pos + 1]
        if not length & 0x80:
            raise WireError("unmasked frame from a client")
        length &= 0x7F
        head = {126: 4, 127: 10}.get(length, 2)
        if size - pos < head + 4:
            break
        if head > 2:
            length = int.from_bytes(buf[pos + 2 : pos + head], "big")
        end = pos + head + 4 + length
        if end > size:
            break
        key = bytes(buf[pos + head : pos + head + 4])
        # Masking is an XOR with the key: applying it again with the same key unmasks.
        masked = encode_client_frame(OP_TEXT, bytes(buf[pos + head + 4 : end]), key)
        frames.append((buf[pos] & 0x0F, masked[len(masked) - length :]))
        pos = end
    return frames, pos


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)  # what the kernel did not take yet
    websocket: bool = False
    joined: bool = False  # past the Socket.IO CONNECT: a recipient of broadcasts


class FrameFloor:
    """The server: accepts, answers handshakes, acks sends and broadcasts their frames."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.epoll = select.epoll()
        self.epoll.register(listener.fileno(), select.EPOLLIN)
        self.connections: dict[int, Connection] = {}
        self.recipients: list[Connection] = []
        self.pending: list[bytes] = []  # frames to broadcast at the end of this turn
        self.frames_delivered = 0
        self.ids = itertools.count(1)
        self.next_ping = time.monotonic() + PING_INTERVAL_MS / 1000

    def serve_forever(self) -> None:
        while True:
            for fd, events in self.epoll.poll(1.0):
                if fd == self.listener.fileno():
                    self._accept()
                    continue
                connection = self.connections.get(fd)
                if connection is None:
                    continue
                if events & select.EPOLLOUT:
                    self._flush(connection)
                if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self._read(connection)
            if self.pending:
                self._broadcast()
            if time.monotonic() >= self.next_ping:
                self.next_ping += PING_INTERVAL_MS / 1000
                self.pending.append(server_frame(b"2"))
                self._broadcast(counted=False)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections[sock.fileno()] = Connection(sock)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    def _read(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        connection.inbuf += data
        try:
            if not connection.websocket:
                self._http(connection)
            if connection.websocket:
                frames, used = parse_client_frames(connection.inbuf)
                del connection.inbuf[:used]
                for opcode, payload in frames:
                    self._frame(connection, opcode, payload)
        except (WireError, ValueError, IndexError, orjson.JSONDecodeError):
            self._close(connection)

    def _http(self, connection: Connection) -> None:
        head, sep, rest = bytes(connection.inbuf).partition(b"\r\n\r\n")
        if not sep:
            if len(head) > 65536:
                raise WireError("oversized request")
            return
        lines = head.split(b"\r\n")
        target = lines[0].split(b" ")[1]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if target.startswith(b"/socket.io/") and b"transport=websocket" in target:
            accept = websocket_accept(headers[b"sec-websocket-key"])
            connection.websocket = True
            connection.inbuf = bytearray(rest)
            self._write(
                connection,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                b"" + server_frame(b"0" + OPEN),
            )
            return
        if target.startswith(b"/socket.io/"):
            body = b"0" + OPEN
        elif target == b"/metrics":
            body = b"minidiscord_frames_delivered_total %d\n" % self.frames_delivered
        else:
            body = b"ok"
        self._write(
            connection,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body,
        )
        self._close(connection)

    def _frame(self, connection: Connection, opcode: int, payload: bytes) -> None:
        if opcode == OP_CLOSE:
            self._write(connection, server_frame(payload[:2], OP_CLOSE))
            self._close(connection)
        elif opcode == OP_PING:
            self._write(connection, server_frame(payload, OP_PONG))
        elif opcode == OP_TEXT:
            self._packet(connection, payload)

    def _packet(self, connection: Connection, packet: bytes) -> None:
        if packet.startswith(b"40"):
            connection.joined = True
            self.recipients.append(connection)
            self._write(connection, server_frame(b'40{"sid":"floor%d"}' % next(self.ids)))
            self.frames_delivered += 1
        elif packet.startswith(b"42"):
            bracket = packet.index(b"[")
            if not packet.startswith(SEND_EVENT, bracket + 1):
                return
            _, channel, text = orjson.loads(packet[bracket:])[:3]
            number = next(self.ids)
            message = {
                "id": str(number),
                "userId": "floor",
                "username": "floor",
                "timestamp": int(time.time() * 1000),
                "message": text,
            }
            self.pending.append(
                server_frame(b"42" + orjson.dumps(["message:channel", channel, message]))
            )
            if bracket > 2:
                ack = b"43" + packet[2:bracket] + b'[{"ok":true,"id":"%d"}]' % number
                self._write(connection, server_frame(ack))
                self.frames_delivered += 1
        elif packet.startswith(b"41") or packet == b"1":
            self._close(connection)

    def _broadcast(self, counted: bool = True) -> None:
        data = b"".join(self.pending)
        if counted:
            self.frames_delivered += len(self.pending) * len(self.recipients)
        self.pending.clear()
        for connection in list(self.recipients):
            self._write(connection, data)

    def _write(self, connection: Connection, data: bytes) -> None:
        if connection.out:
            connection.out += data
            if len(connection.out) > MAX_PENDING:
                self._close(connection)
            return
        try:
            sent = connection.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(connection)
            return
        if sent < len(data):
            connection.out += data[sent:]
            self.epoll.modify(connection.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def _flush(self, connection: Connection) -> None:
        try:
            sent = connection.sock.send(connection.out)
        except BlockingIOError:
            return
        except OSError:
            self._close(connection)
            return
        del connection.out[:sent]
        if not connection.out:
            self.epoll.modify(connection.sock.fileno(), select.EPOLLIN)

    def _close(self, connection: Connection) -> None:
        fd = connection.sock.fileno()
        if self.connections.get(fd) is not connection:
            return
        del self.connections[fd]
        if connection.joined:
            self.recipients.remove(connection)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)
        connection.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    listener = socket.create_server((args.host, args.port), backlog=4096)
    listener.setblocking(False)
    with contextlib.suppress(KeyboardInterrupt):
        FrameFloor(listener).serve_forever()


if __name__ == "__main__":
    main()
