"""One Engine.IO session: its outgoing frame buffer, heartbeat, timers and lifetime.

A session outlives the HTTP requests and the WebSocket that carry it. Its own task
(:meth:`EngineSession.run`, started in the engine's nursery) keeps the heartbeat and
holds a nursery for the application's per-connection tasks. Whichever transport carries
the session drains :attr:`outgoing` and hands the client's packets to
:meth:`receive_packet`, which runs the application's handler in that transport's task,
in order. When the session closes, its tasks are cancelled and the application's close
handler runs once, in a ``finally``, with the reason.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from ..limits import Rate
from ..metrics import Metrics
from ..protocol import engineio
from ..protocol.engineio import Frame, Packet, PacketType

logger = logging.getLogger("minidiscord.engine")

# A close handler that hangs must not keep a finished session alive for ever.
CLOSE_HANDLER_TIMEOUT = 10.0
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


class RequestInfo:
    """What the application may know of the request that opened the session.

    Headers stay in the host's raw form until someone asks: most sessions never do, and
    a decoded copy per connection is memory for nothing.
    """

    __slots__ = ("_raw_headers", "address", "query")

    def __init__(
        self,
        address: str,
        raw_headers: Any = (),
        query: dict[str, str] | None = None,
    ) -> None:
        self.address = address
        self._raw_headers = raw_headers
        self.query = query or {}

    @property
    def headers(self) -> dict[str, str]:
        return {
            bytes(key).decode("latin-1"): bytes(value).decode("latin-1")
            for key, value in self._raw_headers
        }


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
        self.handler: ConnectionHandler | None = None
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
        # Held while a POST's packets are handled, so an upgrade cannot overtake them.
        self.dispatch_lock = trio.Lock()
        # The keep-alive task sleeps on this; pongs, timers and the close wake it.
        self._wakeup = trio.Event()
        self._ponged = False
        self._timer_at: float | None = None
        self._timer_callback: Callable[[], None] | None = None
        self._flushed = trio.Event()

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

    def set_timer(self, at: float | None, callback: Callable[[], None] | None = None) -> None:
        """Call ``callback`` at trio time ``at`` (one timer per session; None cancels it).

        The keep-alive task runs it, so a connection's deadlines cost no task of their own.
        """
        self._timer_at = at
        self._timer_callback = callback
        self._wakeup.set()

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
        if not flush:
            if self.writer_scope is not None:
                self.writer_scope.cancel()
            self.release_poll()
        self._wakeup.set()

    def release_poll(self) -> None:
        """Make a pending poll return now (with a NOOP if nothing is queued)."""
        if self.poll_scope is not None:
            self.poll_scope.cancel()

    def switch_to_websocket(self) -> None:
        """Finish an upgrade: the WebSocket takes over, a pending poll returns at once."""
        self.transport = "websocket"
        self.release_poll()

    async def receive_packet(self, packet: Packet) -> None:
        """Apply one packet from the client (any transport), in the transport's task."""
        kind = packet.type
        if kind is PacketType.MESSAGE:
            if self.handler is not None and not self.closed:
                try:
                    await self.handler.on_message(packet.data)
                except Exception:
                    # Our bug, not the client's: this connection ends, the server goes on.
                    logger.exception("handling a message from %s failed", self.sid)
                    self.close("server error", flush=False)
        elif kind is PacketType.PONG:
            self._ponged = True
            self._wakeup.set()
        elif kind is PacketType.CLOSE:
            self.close("transport close", flush=False)
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
        logger.info("connect %s (%s) from %s", self.sid, self.transport, self.request.address)
        self.metrics.connected.inc()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.handler = open_handler(self)
                task_status.started()
                await self._keep_alive()
                if self.flush_on_close:
                    with trio.move_on_after(FLUSH_TIMEOUT):
                        await self._flushed.wait()
                nursery.cancel_scope.cancel()
        finally:
            self.close("server shutting down")
            self.metrics.connected.dec()
            logger.info("disconnect %s: %s", self.sid, self.close_reason)
            if self.handler is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_HANDLER_TIMEOUT):
                    await self.handler.on_close(self.close_reason or "server shutting down")

    async def _keep_alive(self) -> None:
        """Heartbeat and timer until the session closes.

        The server pings and the client must answer within ping_timeout (Engine.IO 4);
        the next ping is due ping_interval after the answer. This is also what finds dead
        peers that the HTTP server never reports as gone.
        """
        interval = self.config.ping_interval
        due = trio.current_time() + interval
        awaiting_pong = False
        while True:
            wake_at = due if self._timer_at is None else min(due, self._timer_at)
            with trio.move_on_at(wake_at):
                await self._wakeup.wait()
            self._wakeup = trio.Event()
            if self.closed:
                return
            now = trio.current_time()
            if awaiting_pong and self._ponged:
                awaiting_pong = False
                due = now + interval
            if self._timer_at is not None and now >= self._timer_at:
                callback, self._timer_at, self._timer_callback = self._timer_callback, None, None
                if callback is not None:
                    callback()
                continue
            if now >= due:
                if awaiting_pong:
                    self.close("ping timeout", flush=False)
                    return
                self._ponged = False
                awaiting_pong = True
                self.send_frame(engineio.PING_FRAME)
                due = now + self.config.ping_timeout
