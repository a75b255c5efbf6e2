"""The engine's batched and direct sends on hypercorn's WebSockets (trio worker; direct sends
over HTTP/1.1 plain TCP only).

hypercorn takes one ASGI message per WebSocket message: wsproto frames it (encoding the
text once per recipient), and the connection's writer task, woken for it, writes it with
a ``send_all`` of its own under the connection's send lock. With 1,000 clients that is
1,000 wake-ups, encodings and system calls per broadcast. The native front end offers the
engine two ASGI extensions instead (:data:`~minidiscord.asgi_io.SEND_MANY`,
:data:`~minidiscord.asgi_io.DIRECT_SEND`); this module gives hypercorn's WebSockets the
same two, so the engine's writer and its rounds of direct writes run alike on both:

- ``send_many``: every frame the writer took goes out in one write, each frame encoded
  once for all recipients (:class:`~.frontend.wsframes.FrameCache`; permessage-deflate is
  refused by :mod:`.hostfixes`, so a frame is a header and the payload).
- ``direct_send`` (plain TCP only): while no write is in progress on the connection (its
  send lock is free) and nothing is left unwritten, the engine's round writes a broadcast
  to the socket with one non-blocking ``send(2)``, waking nobody. What the socket does not
  take is kept here and written first by the next write on the connection, the engine's
  or hypercorn's own (a pong, the close), so frames are never interleaved.

Who may write to the socket when: hypercorn's tasks, under its send lock, always; a
direct send only while that lock is free and nothing is kept here.

The same patch of ``spawn_app`` gives each WebSocket the :class:`~.hypercorn_receives.Mailbox`
that hands the app its messages in hypercorn's own task.
"""

import functools
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from hypercorn.protocol.events import Data
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from hypercorn.trio.task_group import TaskGroup, _handle
from hypercorn.trio.tcp_server import TCPServer
from wsproto.connection import ConnectionState
from wsproto.utilities import LocalProtocolError

from .asgi_io import DIRECT_SEND, SEND_MANY
from .frontend.wsframes import FrameCache
from .hypercorn_receives import close_mailbox, spawn_websocket_app

_INSTALLED_MARK = "_minidiscord_sends"
# Where a hypercorn WSStream keeps its HypercornWrites, and a server's Config its frames.
_WRITES_ATTRIBUTE = "minidiscord_writes"
_FRAMES_ATTRIBUTE = "minidiscord_frames"
# SEND_MANY's options (none): one dict for every connection, which nobody changes.
_NO_OPTIONS: dict[str, Any] = {}


def frames_of(config: Any) -> FrameCache:
    """The frame encodings shared by every WebSocket of the server that runs with hypercorn
    ``config`` (a broadcast's frame is encoded once for all its recipients)."""
    frames = getattr(config, _FRAMES_ATTRIBUTE, None)
    if not isinstance(frames, FrameCache):
        frames = FrameCache()
        setattr(config, _FRAMES_ATTRIBUTE, frames)
    return frames


class HypercornWrites:
    """The two extensions for one hypercorn WebSocket."""

    __slots__ = ("_frames", "_lock", "_pending", "_socket", "_stream", "_writing")

    def __init__(self, stream: WSStream, frames: FrameCache, tcp_server: TCPServer | None) -> None:
        self._stream = stream
        self._frames = frames
        # Bytes of a direct send the socket did not take: written before anything else.
        self._pending = b""
        self._writing = False
        # Set where direct sends are offered: the connection's send lock and its socket.
        self._lock: trio.Lock | None = None
        self._socket: trio.socket.SocketType | None = None
        if tcp_server is not None and isinstance(tcp_server.stream, trio.SocketStream):
            self._lock = tcp_server.send_lock
            self._socket = tcp_server.stream.socket

    def offer(self, scope: dict[str, Any]) -> None:
        """Offer the extensions in ``scope``, whose extensions are its own."""
        extensions = scope.setdefault("extensions", {})
        extensions[SEND_MANY] = _NO_OPTIONS
        if self._socket is not None:
            extensions[DIRECT_SEND] = {"send": self.send_now}

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def send_now(self, payloads: Sequence[str | bytes]) -> int | None:
        """The :data:`~minidiscord.asgi_io.DirectSend` of this WebSocket: None when nothing
        was written, else how many bytes the socket did not take (kept for the next write)."""
        if self._pending or self._writing or not self._may_write() or not _open(self._stream):
            return None
        data = self._frames.encode_all(payloads)
        sent = self._write_some(data)
        if sent is None:
            # Full (EAGAIN: the writer sends it), or reset (the reader finds out).
            return None
        unsent = len(data) - sent
        if unsent:
            self._pending = data[sent:]
        return unsent

    def _may_write(self) -> bool:
        """Plain TCP, hypercorn is not writing (its send lock is free), and its socket is
        still open (-1 once closed: the number may belong to another client by now)."""
        lock, sock = self._lock, self._socket
        return lock is not None and sock is not None and not lock.locked() and sock.fileno() >= 0

    def _write_some(self, data: bytes) -> int | None:
        """Write what the socket takes of ``data`` now (the caller checked
        :meth:`_may_write`): how many bytes, or None when it took nothing or failed."""
        assert self._socket is not None
        try:
            # The socket is non-blocking (trio's): this never waits.
            return os.write(self._socket.fileno(), data)
        except OSError:
            return None

    async def send_many(self, frames: Sequence[str | bytes]) -> None:
        """Write what a direct send left, then ``frames``, in one write."""
        stream = self._stream
        if stream.closed:
            return
        data = self._frames.encode_all(frames) if frames and _open(stream) else b""
        await self.write(data)

    async def write(self, data: bytes) -> None:
        """Write ``data`` behind what a direct send left, through hypercorn's own send."""
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if not data:
            return
        self._writing = True
        try:
            rest = self._write_at_once(data)
            if rest:
                await self._stream.send(Data(stream_id=self._stream.stream_id, data=rest))
        finally:
            self._writing = False

    def _write_at_once(self, data: bytes) -> bytes:
        """Write what the socket takes of ``data`` now; the rest, for hypercorn's send.

        hypercorn's send takes its lock and writes with ``send_all``: two trips through the
        scheduler for every write. In a connect storm a writer that yields while joins
        arrive every pass never gets back to idle, so every `user:join` then went through
        it, one write per client per pass, instead of in the engine's rounds of direct
        writes (docs/benchmarks.md, "hypercorn's connect storm"). Written here, a write the
        socket takes whole costs one system call and no trip, and the writer is idle again
        at once.
        """
        if not self._may_write():
            return data
        sent = self._write_some(data)
        if sent is None:
            # Full: hypercorn's send waits until it is writable. Reset: its send finds out
            # and closes the connection, as it would have.
            return data
        return data[sent:]


# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_CONNECTED = ASGIWebsocketState.CONNECTED
_OPEN = ConnectionState.OPEN


def _open(stream: WSStream) -> bool:
    """The app accepted the WebSocket and neither side has begun closing it."""
    return not stream.closed and stream.state is _CONNECTED and stream.connection.state is _OPEN


def _tcp_server_of(stream: WSStream) -> TCPServer | None:
    """The trio ``TCPServer`` under an HTTP/1.1 WebSocket (None under HTTP/2 or asyncio)."""
    protocol = getattr(stream.send, "__self__", None)
    if not isinstance(protocol, H11Protocol):
        return None
    tcp_server = getattr(protocol.send, "__self__", None)
    return tcp_server if isinstance(tcp_server, TCPServer) else None


def writes_of(stream: WSStream) -> HypercornWrites | None:
    writes = getattr(stream, _WRITES_ATTRIBUTE, None)
    return writes if isinstance(writes, HypercornWrites) else None


def install() -> None:
    """Offer both extensions on hypercorn's trio WebSockets (once per process)."""
    spawn_app: Callable[..., Awaitable[Any]] = TaskGroup.spawn_app
    if getattr(spawn_app, _INSTALLED_MARK, False):
        return

    @functools.wraps(spawn_app)
    async def spawn_app_offering_extensions(
        self: Any, app: Any, config: Any, scope: Any, send: Any
    ) -> Any:
        stream = getattr(send, "__self__", None)
        if scope["type"] != "websocket" or not isinstance(stream, WSStream):
            return await spawn_app(self, app, config, scope, send)
        # The scope is the app's before this returns: the extensions go in now.
        tcp_server = _tcp_server_of(stream)
        writes = HypercornWrites(stream, frames_of(config), tcp_server)
        setattr(stream, _WRITES_ATTRIBUTE, writes)
        writes.offer(scope)
        return spawn_websocket_app(
            self, _handle, app, config, scope, send, hand_over=tcp_server is not None
        )

    app_send: Callable[[Any, Any], Awaitable[None]] = WSStream.app_send

    @functools.wraps(app_send)
    async def app_send_many(self: Any, message: Any) -> None:
        if message is None:
            # The app has ended (hypercorn's last word from the app's task).
            close_mailbox(self.app_put)
        elif message["type"] == SEND_MANY:
            writes = writes_of(self)
            if writes is not None:
                await writes.send_many(message["frames"])
                return
        await app_send(self, message)

    send_event: Callable[[Any, Any], Awaitable[None]] = WSStream._send_wsproto_event

    @functools.wraps(send_event)
    async def send_event_after_pending(self: Any, event: Any) -> None:
        writes = writes_of(self)
        if writes is None or not writes.pending:
            await send_event(self, event)
            return
        # hypercorn's own frame (a pong, a close) goes behind the rest of a direct send.
        try:
            data = self.connection.send(event)
        except LocalProtocolError:
            data = b""
        await writes.write(data)

    setattr(spawn_app_offering_extensions, _INSTALLED_MARK, True)
    TaskGroup.spawn_app = spawn_app_offering_extensions  # type: ignore[method-assign]
    WSStream.app_send = app_send_many  # type: ignore[method-assign]
    WSStream._send_wsproto_event = send_event_after_pending  # type: ignore[method-assign]
