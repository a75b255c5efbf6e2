"""One Engine.IO session: its outgoing frame buffer, heartbeat, incoming dispatch and lifetime.

A session outlives the HTTP requests and the WebSocket that carry it. Its own task
(:meth:`EngineSession.run`, started in the engine's nursery) holds a nursery with the
heartbeat and the dispatcher of incoming messages; whichever transport currently
carries the session drains :attr:`outgoing` and feeds :meth:`receive_packet`. When the
session closes, its tasks are cancelled and the application's close handler runs once,
in a ``finally``, with the reason.
"""

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from ..limits import Rate
from ..metrics import Metrics
from ..protocol import engineio
from ..protocol.engineio import Frame, Packet, PacketType

logger = logging.getLogger("minidiscord.engine")

# Messages a client may have in flight towards the application before its transport
# stops reading (TCP backpressure for WebSocket, a slower POST answer for polling).
INCOMING_BUFFER = 64
# A close handler that hangs must not keep a finished session alive for ever.
CLOSE_HANDLER_TIMEOUT = 10.0
DRAIN_TIMEOUT = 5.0
# How long a closing session waits for its transport to deliver what was queued (for
# polling, the client's next GET) before it gives up on the client.
FLUSH_TIMEOUT = 5.0


class ConnectionHandler(Protocol):
    """What the layer above the engine (Socket.IO) does with one session."""

    async def on_message(self, data: str | bytes) -> None: ...

    async def on_close(self, reason: str) -> None: ...


OpenHandler = Callable[["EngineSession"], ConnectionHandler]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    # Outgoing frames queued for one client before it counts as a slow consumer.
    client_buffer: int = 1024
    # A polling client must finish its WebSocket upgrade within this many seconds.
    upgrade_timeout: float = 10.0
    # Admission: sessions open at once (None: no cap), new sessions per client address,
    # and sessions open at once per client address.
    max_sessions: int | None = None
    ip_connect_rate: Rate | None = None
    ip_max_sessions: int | None = None


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the application may know of the request that opened the session."""

    address: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


class EngineSession:
    def __init__(
        self,
        sid: str,
        transport: str,
        config: EngineConfig,
        request: RequestInfo,
        metrics: Metrics | None = None,
    ) -> None:
        self.sid = sid
        self.metrics = metrics or Metrics()
        self.transport = transport
        self.config = config
        self.request = request
        self.outgoing: trio.MemoryReceiveChannel[Frame]
        self._out_send, self.outgoing = trio.open_memory_channel[Frame](config.client_buffer)
        self._in_send, self._in_recv = trio.open_memory_channel[str | bytes](INCOMING_BUFFER)
        self._closed = trio.Event()
        self._flushed = trio.Event()
        self._pong = trio.Event()
        self.close_reason: str | None = None
        # False when the session was dropped rather than closed: its queue is abandoned.
        self.flush_on_close = True
        self.nursery: trio.Nursery | None = None
        # The transport task currently writing to the client; cancelled to abort it.
        self.writer_scope: trio.CancelScope | None = None
        self.poll_scope: trio.CancelScope | None = None
        self.polling = False
        self.posting = False
        self.upgrading = False

    def open_frame(self, upgrades: list[str]) -> str:
        config = self.config
        return engineio.open_frame(
            sid=self.sid,
            upgrades=upgrades,
            ping_interval_ms=round(config.ping_interval * 1000),
            ping_timeout_ms=round(config.ping_timeout * 1000),
            max_payload=config.max_payload,
        )

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def send_frame(self, frame: Frame) -> None:
        """Queue one encoded frame; never blocks. A full queue drops the client."""
        try:
            self._out_send.send_nowait(frame)
        except trio.WouldBlock:
            logger.warning(
                "dropping slow consumer %s: %d frames unread",
                self.sid,
                self.config.client_buffer,
            )
            self.metrics.slow_consumers.inc()
            self.close("slow consumer", flush=False)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def mark_flushed(self) -> None:
        """Called by the transport once the client has everything queued before the close."""
        self._flushed.set()

    def refuse(self, label: str, detail: str, *, reason: str = "transport error") -> None:
        """Close the session over something the client did wrong: logged and counted."""
        if self.close_reason is None:
            logger.info("rejected %s (%s): %s", self.sid, label, detail)
            self.metrics.reject(label)
        self.close(reason, flush=False)

    def close(self, reason: str, *, flush: bool = True) -> None:
        """End the session. With ``flush`` the transport first delivers what is queued."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self.flush_on_close = flush
        self._out_send.close()
        self._in_send.close()
        if not flush and self.writer_scope is not None:
            self.writer_scope.cancel()
        if not flush:
            self.release_poll()
        self._closed.set()

    def release_poll(self) -> None:
        """Make a pending poll return now (with a NOOP if nothing is queued)."""
        if self.poll_scope is not None:
            self.poll_scope.cancel()

    def switch_to_websocket(self) -> None:
        """Finish an upgrade: the WebSocket takes over, a pending poll returns at once."""
        self.transport = "websocket"
        self.release_poll()

    async def receive_packet(self, packet: Packet) -> None:
        """Apply one packet from the client (any transport)."""
        kind = packet.type
        if kind is PacketType.MESSAGE:
            with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await self._in_send.send(packet.data)
        elif kind is PacketType.PONG:
            self._pong.set()
        elif kind is PacketType.CLOSE:
            self.close("transport close")
        elif kind in (PacketType.NOOP, PacketType.PING):
            pass
        else:
            self.refuse("bad packet", f"unexpected {kind.name} packet")

    async def run(
        self,
        open_handler: OpenHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        handler: ConnectionHandler | None = None
        logger.info("connect %s (%s) from %s", self.sid, self.transport, self.request.address)
        self.metrics.connected.inc()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                handler = open_handler(self)
                dispatched = trio.Event()
                nursery.start_soon(self._heartbeat)
                nursery.start_soon(self._dispatch, handler, dispatched)
                task_status.started()
                await self._closed.wait()
                # What the client sent before closing (say, a Socket.IO DISCONNECT) is
                # still handled, but a handler that hangs cannot keep the session alive.
                with trio.move_on_after(DRAIN_TIMEOUT):
                    await dispatched.wait()
                if self.flush_on_close:
                    with trio.move_on_after(FLUSH_TIMEOUT):
                        await self._flushed.wait()
                nursery.cancel_scope.cancel()
        finally:
            self.close("server shutting down")
            self.metrics.connected.dec()
            logger.info("disconnect %s: %s", self.sid, self.close_reason)
            if handler is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_HANDLER_TIMEOUT):
                    await handler.on_close(self.close_reason or "server shutting down")

    async def _heartbeat(self) -> None:
        # The server pings and the client must answer within ping_timeout (Engine.IO 4).
        # This is also what finds dead peers the HTTP server never reports as gone.
        while True:
            await trio.sleep(self.config.ping_interval)
            self._pong = trio.Event()
            self.send_frame(engineio.PING_FRAME)
            with trio.move_on_after(self.config.ping_timeout):
                await self._pong.wait()
                continue
            self.close("ping timeout", flush=False)
            return

    async def _dispatch(self, handler: ConnectionHandler, done: trio.Event) -> None:
        # The loop ends when close() closes the incoming channel and it has drained.
        async for data in self._in_recv:
            await handler.on_message(data)
        done.set()
