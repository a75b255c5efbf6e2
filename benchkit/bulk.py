"""Many receive-only WebSocket connections read by one trio task through one epoll.

A trio task per socket costs a scheduler wake-up per read, which at a thousand connections is
most of what a load generator spends. Here the connections are registered in an epoll of
their own; one task waits for that epoll's descriptor to become readable (one wake-up for
every socket with data), then, every ``interval``, reads each ready socket in one
``recv_into`` and counts its frames by their headers (``benchkit.framecount``). Reading in
rounds lets data pile up, so each read carries many frames; the bulk connections measure
no latency (a sample of clients, read the usual way, does), and a round yields to trio every
few sockets so that sample is timed without waiting for a whole round.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from benchkit.framecount import FrameCounter
from benchkit.wire import OP_PONG, OP_TEXT, WireError, encode_client_frame

# Sockets read between two trio checkpoints: bounds how long the sample clients wait.
SOCKETS_PER_CHECKPOINT = 32


@dataclass
class _Connection:
    sock: socket.socket
    counter: FrameCounter
    closed: trio.Event = field(default_factory=trio.Event)


class BulkReceiver:
    """Counts what many server connections receive: ``messages`` (text and binary messages),
    ``packets`` (Socket.IO packets among them), ``matches`` (those starting with ``prefix``)
    and ``second_matches`` (with ``second_prefix``), totals since the receiver began;
    ``second_at`` is the wall-clock time of the read that found the last second match.
    Messages starting with one of ``whole`` go whole to the ``on_whole`` their connection
    was added with. Answers Engine.IO and WebSocket pings."""

    def __init__(
        self,
        prefix: bytes,
        interval: float = 0.02,
        buffer_size: int = 1 << 20,
        second_prefix: bytes = b"",
        whole: tuple[bytes, ...] = (),
    ) -> None:
        self.prefix = prefix
        self.second_prefix = second_prefix
        self.whole = whole
        self.interval = interval
        self.messages = 0
        self.packets = 0
        self.matches = 0
        self.second_matches = 0
        self.second_at: float | None = None
        self.errors: list[str] = []  # the first few reasons a connection broke, to say why
        self._epoll = select.epoll()
        self._connections: dict[int, _Connection] = {}
        self._buffer = bytearray(buffer_size)

    def __len__(self) -> int:
        return len(self._connections)

    def add(
        self,
        sock: socket.socket,
        leftover: bytes = b"",
        on_whole: Callable[[bytes], None] | None = None,
    ) -> trio.Event:
        """Take over ``sock`` (non-blocking, past its handshakes) and the bytes already read
        from it; the event is set when the connection ends (then the socket is closed).
        ``on_whole`` gets its messages that start with one of ``whole``."""
        whole = self.whole if on_whole is not None else ()
        counter = FrameCounter(self.prefix, self.second_prefix, whole, on_whole)
        connection = _Connection(sock, counter)
        self._connections[sock.fileno()] = connection
        if leftover:
            self._count(connection, leftover, len(leftover))
        if connection.counter.closed:
            self._close(connection)
        else:
            self._epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        return connection.closed

    def discard(self, sock: socket.socket) -> None:
        """Stop reading ``sock`` and close it (a no-op once it is closed)."""
        connection = self._connections.get(sock.fileno())
        if connection is not None and connection.sock is sock:
            self._close(connection)

    async def run(self) -> None:
        """Read in rounds until cancelled."""
        try:
            while True:
                await trio.lowlevel.wait_readable(self._epoll)
                await self.read_round()
                await trio.sleep(self.interval)
        finally:
            for connection in list(self._connections.values()):
                self._close(connection)
            self._epoll.close()

    async def read_round(self) -> None:
        """Read every socket that has data now, once each."""
        ready = self._epoll.poll(0, max(1, len(self._connections)))
        for index, (fd, _events) in enumerate(ready):
            connection = self._connections.get(fd)
            if connection is not None:
                self._read(connection)
            if index % SOCKETS_PER_CHECKPOINT == SOCKETS_PER_CHECKPOINT - 1:
                await trio.lowlevel.checkpoint()

    def _read(self, connection: _Connection) -> None:
        try:
            size = connection.sock.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError as exc:
            self._broke(connection, repr(exc))
            return
        if not size:
            self._broke(connection, "closed by the server")
            return
        try:
            self._count(connection, self._buffer, size)
        except WireError as exc:
            self._broke(connection, repr(exc))
            return
        counter = connection.counter
        if counter.pings or counter.ws_pings:
            self._answer(connection)
        if counter.closed:
            self._close(connection)

    def _count(self, connection: _Connection, data: bytes | bytearray, size: int) -> None:
        messages, packets, matches, second_matches = connection.counter.feed(data, size)
        self.messages += messages
        self.packets += packets
        self.matches += matches
        if second_matches:
            self.second_matches += second_matches
            self.second_at = time.time()

    def _answer(self, connection: _Connection) -> None:
        counter = connection.counter
        pongs = [encode_client_frame(OP_TEXT, b"3") for _ in range(counter.pings)]
        pongs += [encode_client_frame(OP_PONG, payload) for payload in counter.ws_pings]
        counter.pings = 0
        counter.ws_pings.clear()
        data = b"".join(pongs)
        try:
            # A few bytes into an idle send buffer: a short write would mean a dead peer.
            sent = connection.sock.send(data)
        except OSError as exc:
            self._broke(connection, repr(exc))
            return
        if sent != len(data):
            self._broke(connection, "could not send a pong")

    def _broke(self, connection: _Connection, why: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(why)
        self._close(connection)

    def _close(self, connection: _Connection) -> None:
        fd = connection.sock.fileno()
        if fd >= 0 and self._connections.get(fd) is connection:
            del self._connections[fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)
        connection.sock.close()
        connection.closed.set()
