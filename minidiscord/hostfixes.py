"""Adjustments to the ASGI host (hypercorn's trio worker) that ASGI gives an app no say in.

- hypercorn 0.17-0.18 lets an exception from one connection's protocol handling escape
  that connection's task and end the whole server: a client that sends bytes right after
  a WebSocket upgrade request, before the handshake answer, takes every other client
  down with it. Each connection's handler is wrapped so that its failure ends that
  connection only.
- hypercorn accepts permessage-deflate whenever a client offers it (browsers and node's
  ws always do). Compression runs per recipient, so a broadcast would be compressed once
  per member, and each connection would hold a zlib state of hundreds of KB. The
  reference Socket.IO server leaves it off by default; so do we.
- hypercorn takes every TCP connection it is offered, up to the process's file limit, so one
  address could hold them all. The same wrapper of each connection's handler counts
  connections per client address and in all (:mod:`.frontend.connlimits`, with the limits
  of the server the connection belongs to, found on that server's hypercorn ``Config``)
  and refuses one over a cap before hypercorn sees it.
- hypercorn keeps a kept-alive connection whose client has closed it (its socket, its task)
  until its keep-alive timer runs out, up to a heartbeat cycle later: such a connection
  would hold its descriptor, and its place under the connection caps, for nothing. Its
  timer is stopped as soon as reading ends, for good: an HTTP/2 stream that ended after
  that started it again (hypercorn's HTTP/2 reports the connection idle whenever a stream
  closes), and the finished connection waited it out.
- hypercorn parses with h11, which guesses where a request head is ambiguous (obs-fold,
  bare LF, Content-Length with Transfer-Encoding): a proxy in front may frame it otherwise
  (request smuggling). Its connections get our strict h11 connection, which answers 400.
  Once a WebSocket's upgrade is answered, hypercorn kept that h11 connection for nothing
  (0.9 KiB per WebSocket); it is let go.
- hypercorn checks a WebSocket message's size only after adding each piece to its buffer,
  and after refusing one (close 1009) it goes on reading and buffering the rest of it: one
  300 MiB frame cost 200 MiB. A piece that would take a message over the limit is now
  dropped unbuffered, and the connection stops reading once the close is sent, as on the
  native front end; the app is told with close code 1009. The bytes of unfinished messages
  also count against their client address's budget (the server's ``ConnectionLimits``), as
  on the native front end.
- hypercorn writes each WebSocket message on its own; its WebSockets now take the engine's
  batches and direct sends as the native front end does (:mod:`.hypercorn_sends`).
- hypercorn's trio worker accepts one connection per pass through the scheduler; it now
  accepts several waiting ones per wake-up, as the native front end does
  (:mod:`.hypercorn_accepting`).
- hypercorn shields its writes from cancellation, so a client that stopped reading kept its
  connection after the engine dropped it, until it read or closed; a cancelled write now
  ends its connection, as on the native front end (:mod:`.hypercorn_cancels`).
- hypercorn buffered whatever the app wrote to an HTTP/2 stream whose client's
  flow-control window was shut, so a client that granted none held every broadcast and was
  never seen to fall behind; the app's writes to a stream now wait while its buffer is
  full (:mod:`.hypercorn_h2flow`).
- hypercorn's HTTP/2 connection carries up to 100 requests at once, which a client keeps
  alive as long as it likes, and the per-address cap counted connections only: HTTP/2
  streams now count against their address too, and one over the cap is refused
  (:mod:`.hypercorn_h2limits`).
- hypercorn kept every HTTP/2 priority signal, for streams never opened too, in a tree whose
  every change cost time in proportion to its size: one client's PRIORITY frames stalled the
  server for seconds a read. The signals, which RFC 9113 deprecates, are now ignored
  (:mod:`.hypercorn_h2priority`).
- hypercorn's HTTP/2 (h2) kept up to 64 frames of a header block that never ended, 1 MiB a
  connection; a block now ends its connection once it holds more than a header list may
  (:mod:`.hypercorn_h2headers`).
"""

import contextlib
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

# A dependency of ours (the native front end's parser), always there.
import h11
import trio

from .config import Settings
from .frontend.connlimits import ConnectionLimits, peer_ip, refuse
from .frontend.strict import StrictConnection
from .limits import ByteBudgets

logger = logging.getLogger("minidiscord.host")

_INSTALLED_MARK = "_minidiscord_contained"
_STRICT_MARK = "_minidiscord_strict"
_PROMPT_MARK = "_minidiscord_prompt"
# Set on a hypercorn connection (TCPServer) once it has read all it will.
_READ_ENDED_ATTRIBUTE = "_minidiscord_read_ended"
# The ConnectionLimits of one server live on its hypercorn Config (tests run several servers
# in one process: nothing about one server may live in this module).
_LIMITS_ATTRIBUTE = "minidiscord_connection_limits"
# Where a hypercorn WebSocket's message buffer keeps its _Unfinished counter.
_UNFINISHED_ATTRIBUTE = "minidiscord_unfinished"
# A connection no limits count (no server's limits found, or no peer address).
_UNCOUNTED: contextlib.nullcontext[None] = contextlib.nullcontext()


def attach_connection_limits(config: Any, limits: ConnectionLimits) -> None:
    """Make the server that runs with hypercorn ``config`` count its connections in ``limits``."""
    setattr(config, _LIMITS_ATTRIBUTE, limits)


def connection_limits_of(tcp_server: Any) -> ConnectionLimits | None:
    """The limits a hypercorn connection handler (a ``TCPServer``) admits its connection by."""
    limits = getattr(tcp_server.config, _LIMITS_ATTRIBUTE, None)
    if limits is None:
        # Run by hypercorn's own command (minidiscord.asgi:app): the app's settings say.
        settings = getattr(getattr(tcp_server.app, "app", None), "settings", None)
        if not isinstance(settings, Settings):
            return None
        limits = ConnectionLimits.for_settings(settings)
        attach_connection_limits(tcp_server.config, limits)
    return limits if isinstance(limits, ConnectionLimits) else None


def contain_connection_errors() -> None:
    """Make a failing hypercorn connection handler end that connection, not the server;
    the same wrapper admits each connection under its server's connection limits."""
    try:
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # another ASGI host: nothing to mend
        return
    run: Callable[[Any], Awaitable[None]] = TCPServer.run
    if getattr(run, _INSTALLED_MARK, False):
        return

    @functools.wraps(run)
    async def contained_run(self: Any) -> None:
        limits = connection_limits_of(self)
        ip = peer_ip(self.stream)
        counted = limits.connection(ip) if limits is not None and ip is not None else _UNCOUNTED
        with counted as refusal:
            if refusal is not None:
                refuse(self.stream, refusal)
                return
            try:
                await run(self)
            except Exception as exc:
                # The peer broke the HTTP exchange (h11 raises from the host's own sends);
                # its connection is already closed by the host's finally clause.
                logger.info("dropped a connection the HTTP layer could not handle: %r", exc)

    setattr(contained_run, _INSTALLED_MARK, True)
    TCPServer.run = contained_run  # type: ignore[method-assign]


def is_host_protocol_error(exc: BaseException) -> bool:
    """True for the error the host raises when the app sends on an exchange it already ended."""
    return isinstance(exc, h11.LocalProtocolError)


def refuse_websocket_compression() -> None:
    """Make hypercorn ignore the permessage-deflate offers of WebSocket clients."""
    try:
        from hypercorn.protocol.ws_stream import Handshake
    except ImportError:
        return
    init: Callable[..., None] = Handshake.__init__
    if getattr(init, _INSTALLED_MARK, False):
        return

    @functools.wraps(init)
    def init_without_extensions(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.extensions = None

    setattr(init_without_extensions, _INSTALLED_MARK, True)
    Handshake.__init__ = init_without_extensions  # type: ignore[method-assign]


def refuse_ambiguous_requests() -> None:
    """Give hypercorn's HTTP/1.1 connections an h11 parser that refuses ambiguous heads."""
    try:
        from hypercorn.protocol.h11 import H11Protocol
    except ImportError:
        return
    init: Callable[..., None] = H11Protocol.__init__
    if getattr(init, _STRICT_MARK, False):
        return

    @functools.wraps(init)
    def init_strict(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # Nothing has been received yet: the swap loses no state.
        if type(self.connection) is h11.Connection:
            self.connection = StrictConnection(
                h11.SERVER, max_incomplete_event_size=self.config.h11_max_incomplete_size
            )

    setattr(init_strict, _STRICT_MARK, True)
    H11Protocol.__init__ = init_strict  # type: ignore[method-assign]


class _SwitchedProtocols:
    """What stands for an HTTP/1.1 connection's h11 state once its WebSocket is accepted:
    h11 refuses every event after the 101 (its state is SWITCHED_PROTOCOL), and so does
    this, without keeping the upgrade's parser and request state."""

    __slots__ = ()

    def send(self, event: object) -> bytes:
        raise h11.LocalProtocolError(f"cannot send {type(event).__name__} on a WebSocket")


_SWITCHED = _SwitchedProtocols()


def release_upgraded_http_state() -> None:
    """Make hypercorn let go of a WebSocket's h11 connection once the upgrade is answered."""
    try:
        from hypercorn.protocol.h11 import H11Protocol, H11WSConnection
        from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
    except ImportError:
        return
    accept: Callable[[Any, Any], Awaitable[None]] = WSStream._accept
    if getattr(accept, _INSTALLED_MARK, False):
        return

    @functools.wraps(accept)
    async def accept_then_release(self: Any, message: Any) -> None:
        await accept(self, message)
        if self.state is not ASGIWebsocketState.CONNECTED:
            return
        protocol = getattr(self.send, "__self__", None)
        if isinstance(protocol, H11Protocol) and isinstance(protocol.connection, H11WSConnection):
            # hypercorn's connection keeps the h11 one only to send the 101, now sent.
            protocol.connection.h11_connection = _SWITCHED  # type: ignore[assignment]

    setattr(accept_then_release, _INSTALLED_MARK, True)
    WSStream._accept = accept_then_release  # type: ignore[method-assign]


def install() -> None:
    """Every adjustment above (each is installed once per process; idempotent).

    Called where hypercorn hosts the app: :func:`.frontend.hosting.serve` for the hypercorn
    front end, and :func:`.hypercorn_worker.serve_like_minidiscord` when hypercorn's own
    command loads the app (``minidiscord.asgi``). The native front end never calls it, so a
    process that only runs that leaves hypercorn untouched.
    """
    contain_connection_errors()
    refuse_websocket_compression()
    refuse_ambiguous_requests()
    close_connections_promptly()
    limit_websocket_messages()
    release_upgraded_http_state()
    # Imported here: they import hypercorn, which a native-only process never loads.
    from . import (
        hypercorn_accepting,
        hypercorn_cancels,
        hypercorn_h2flow,
        hypercorn_h2headers,
        hypercorn_h2limits,
        hypercorn_h2priority,
        hypercorn_sends,
    )

    hypercorn_sends.install()
    hypercorn_accepting.install()
    hypercorn_cancels.install()
    hypercorn_h2flow.install()
    hypercorn_h2limits.install()
    hypercorn_h2priority.install()
    hypercorn_h2headers.install()


def limit_websocket_messages() -> None:
    """Make hypercorn stop reading a WebSocket message as soon as it passes its size limit."""
    try:
        from hypercorn.protocol.events import Request, StreamClosed
        from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer, WSStream
    except ImportError:
        return
    extend: Callable[[Any, Any], None] = WebsocketBuffer.extend
    if getattr(extend, _INSTALLED_MARK, False):
        return

    @functools.wraps(extend)
    def extend_within_limit(self: Any, event: Any) -> None:
        size = len(event.data)
        counter: _Unfinished | None = getattr(self, _UNFINISHED_ATTRIBUTE, None)
        if self.length + size > self.max_length or (counter and not counter.hold(size)):
            # Nothing more of this message is kept; it stays "over" so every later piece
            # is refused too.
            if counter is not None:
                counter.release_all()
            self.value = None
            self.length = self.max_length + 1
            raise FrameTooLargeError()
        extend(self, event)

    clear: Callable[[Any], None] = WebsocketBuffer.clear

    @functools.wraps(clear)
    def clear_and_release(self: Any) -> None:
        counter: _Unfinished | None = getattr(self, _UNFINISHED_ATTRIBUTE, None)
        if counter is not None:
            counter.release_all()
        clear(self)

    handle: Callable[[Any, Any], Awaitable[None]] = WSStream.handle

    @functools.wraps(handle)
    async def handle_counting(self: Any, event: Any) -> None:
        if isinstance(event, Request):
            limits = getattr(self.config, _LIMITS_ATTRIBUTE, None)
            if isinstance(limits, ConnectionLimits):
                key = limits.client_key({"client": self.client, "headers": event.headers})
                setattr(self.buffer, _UNFINISHED_ATTRIBUTE, _Unfinished(limits.unfinished, key))
        try:
            await handle(self, event)
        finally:
            if isinstance(event, StreamClosed):
                clear_and_release(self.buffer)

    handle_events: Callable[[Any], Awaitable[None]] = WSStream._handle_events

    @functools.wraps(handle_events)
    async def handle_events_then_stop(self: Any) -> None:
        await handle_events(self)
        if self.buffer.length > self.buffer.max_length and not self.closed:
            # The close frame (1009) is sent: read no more of a message nobody will take.
            self.closed = True
            if self.app_put is not None:
                await self.app_put({"type": "websocket.disconnect", "code": 1009})
            await self.send(StreamClosed(stream_id=self.stream_id))

    setattr(extend_within_limit, _INSTALLED_MARK, True)
    WebsocketBuffer.extend = extend_within_limit  # type: ignore[method-assign]
    WebsocketBuffer.clear = clear_and_release  # type: ignore[method-assign]
    WSStream.handle = handle_counting  # type: ignore[method-assign]
    WSStream._handle_events = handle_events_then_stop  # type: ignore[method-assign]


class _Unfinished:
    """What one hypercorn WebSocket's message buffer holds against its address's budget."""

    __slots__ = ("budgets", "held", "key")

    def __init__(self, budgets: ByteBudgets, key: str) -> None:
        self.budgets = budgets
        self.key = key
        self.held = 0

    def hold(self, size: int) -> bool:
        if not self.budgets.hold(self.key, size):
            return False
        self.held += size
        return True

    def release_all(self) -> None:
        if self.held:
            self.budgets.release(self.key, self.held)
            self.held = 0


def close_connections_promptly() -> None:
    """Make hypercorn let go of a connection as soon as its client has closed it."""
    try:
        from hypercorn.events import Closed, RawData
        from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
    except ImportError:
        return
    read: Callable[[Any], Awaitable[None]] | None = getattr(TCPServer, "_read_data", None)
    if read is None or getattr(read, _PROMPT_MARK, False):
        return

    @functools.wraps(read)
    async def read_then_stop_idle_timer(self: Any) -> None:
        # hypercorn's own loop: each read bounded by its read timeout, the connection's end
        # when a read fails, times out or finds the client gone. Not wrapped but written
        # here, because every idle connection waits in it: its fail_after is a generator
        # around the cancel scope, and a wrapper is another frame (0.8 KiB in all).
        timeout = self.config.read_timeout or math.inf
        stream = self.stream
        while True:
            with trio.move_on_after(timeout) as deadline:
                try:
                    data = await stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    break
            if deadline.cancelled_caught:
                break
            await self.protocol.handle(RawData(bytes(data)))
            if not data:
                break
        await self.protocol.handle(Closed())
        # Nothing is left to read: no keep-alive timer needs to close the connection (a
        # request still running still ends it, as before).
        setattr(self, _READ_ENDED_ATTRIBUTE, True)
        await self.idle_task.stop()

    idle_timeout: Callable[[Any], Awaitable[None]] = TCPServer._idle_timeout

    @functools.wraps(idle_timeout)
    async def idle_timeout_while_reading(self: Any) -> None:
        # Started again after reading ended (an HTTP/2 stream that closed meanwhile), the
        # timer would hold the finished connection until it ran out: it ends at once.
        if not getattr(self, _READ_ENDED_ATTRIBUTE, False):
            await idle_timeout(self)

    setattr(read_then_stop_idle_timer, _PROMPT_MARK, True)
    TCPServer._read_data = read_then_stop_idle_timer  # type: ignore[method-assign]
    TCPServer._idle_timeout = idle_timeout_while_reading  # type: ignore[method-assign]
