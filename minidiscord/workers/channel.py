"""The parent's link to one worker: a Unix socket pair that carries connections.

A connection travels as its file descriptor (``SCM_RIGHTS``) with the bytes already read
from it, in one datagram of a ``SOCK_SEQPACKET`` pair, so a message never splits or merges
with the next and its descriptor arrives with its own bytes. The receiver owns the
descriptor it gets; the sender closes its own copy once the message is sent (the kernel
holds the socket open meanwhile, so the client sees nothing). The worker sends one
``READY`` once its app has started, and gives back connections whose next request is
another worker's the same way the parent hands them over.
"""

from __future__ import annotations

import array
import socket
from dataclasses import dataclass
from enum import Enum

import trio

# Bytes read from a client that may travel with its connection: a request head (the
# front end's limit is 16 KiB) and what a client sent right behind it.
MAX_RECEIVED = 256 * 1024
# Room in the socket for several messages of that size in flight.
_BUFFER = 4 * MAX_RECEIVED
_FD_SIZE = array.array("i").itemsize


class Kind(Enum):
    """What a message on the channel is."""

    CONNECTION = b"C"
    READY = b"R"
    # The worker cannot start; the message is the one line saying why.
    FAILED = b"F"


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    # The connection's descriptor, now the receiver's to close (CONNECTION only).
    fd: int | None = None
    received: bytes = b""


class ChannelClosed(Exception):
    """The process at the other end is gone."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair: the parent's end, and the end a worker process inherits."""
    ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in ends:
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
    return ends


class Channel:
    """One end of a channel; one task receives, any number send."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = trio.socket.from_stdlib_socket(sock)
        # trio lets one task at a time wait to write on a socket.
        self._sending = trio.Lock()

    async def send_connection(self, fd: int, received: bytes) -> None:
        """Send a connection's descriptor with the bytes read from it (at most
        ``MAX_RECEIVED``); the caller still closes its own descriptor."""
        if len(received) > MAX_RECEIVED:
            raise ValueError(f"{len(received)} bytes read ahead: more than a channel carries")
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        await self._send([Kind.CONNECTION.value + received], fds)

    async def send_ready(self) -> None:
        await self._send([Kind.READY.value], [])

    async def send_failed(self, reason: str) -> None:
        await self._send([Kind.FAILED.value + reason.encode()[:MAX_RECEIVED]], [])

    async def _send(
        self, buffers: list[bytes], fds: list[tuple[int, int, array.array[int]]]
    ) -> None:
        async with self._sending:
            try:
                await self._sock.sendmsg(buffers, fds)
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None

    async def receive(self) -> Message | None:
        """The next message; None once the other end is gone. Malformed messages (which
        only a bug could send) are dropped, their descriptors closed."""
        while True:
            try:
                data, ancdata, flags, _ = await self._sock.recvmsg(
                    MAX_RECEIVED + 1, socket.CMSG_SPACE(_FD_SIZE)
                )
            except OSError:
                return None
            fds = _descriptors(ancdata)
            if not data:
                _close_all(fds)
                return None
            message = _message(data, fds, flags)
            if message is not None:
                return message
            _close_all(fds)

    def close(self) -> None:
        self._sock.close()


def _descriptors(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            whole = len(payload) - len(payload) % _FD_SIZE
            fds.extend(array.array("i", payload[:whole]))
    return fds


def _message(data: bytes, fds: list[int], flags: int) -> Message | None:
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        return None
    try:
        kind = Kind(data[:1])
    except ValueError:
        return None
    if kind is Kind.CONNECTION:
        return Message(kind, fds[0], data[1:]) if len(fds) == 1 else None
    return Message(kind, None, data[1:]) if not fds else None


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        socket.close(fd)
