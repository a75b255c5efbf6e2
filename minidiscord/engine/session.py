"""One Engine.IO session: its outgoing frames, heartbeat, timer and lifetime.

A session outlives the HTTP requests and the WebSocket that carry it, yet it owns no
task while it lives: its heartbeat and timer are entries in the engine's one deadline
task, its frames wait in an :class:`Outbox` that whichever transport carries it drains,
and the client's packets are handled in that transport's task, in order. Tasks the
application starts for the connection run in the engine's nursery under a cancel scope
the session keeps. Closing starts one task that lets the transport deliver what was
queued (bounded), cancels the connection's tasks and runs the application's close
handler once, with the reason. What a transport is writing to the client when the session
drops it is cancelled, and once the session is closing every write has until the flush
deadline: the front end then ends the connection, so a client that stopped reading keeps
nothing.
"""

import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, Protocol

import trio

from ..addresses import address_key
from ..limits import Rate, TokenBucket
from ..metrics import Metrics
from ..protocol import engineio
from ..protocol.engineio import Frame, Packet, PacketType
from .heartbeat import Due, Heartbeat, PingSchedule
from .outbox import Outbox, SharedBudget
from .reasons import CloseReason, RejectLabel
from .state import INITIAL, TransportState, check_transition

logger = logging.getLogger("minidiscord.engine")

# A close handler that hangs must not keep a finished session alive for ever.
CLOSE_HANDLER_TIMEOUT = 10.0
# How long a closing session waits for its transport to deliver what was queued (for
# polling, the client's next GET) before it gives up on the client.
FLUSH_TIMEOUT = 5.0
# The hot path reads these once per packet or batch: an enum member looked up through its
# class costs about 70 ns on Python 3.11, a module global a tenth of that.
_QUEUED = Heartbeat.QUEUED
_PING = engineio.PING_FRAME
# States in which frames reach the client as soon as a transport takes them: not while the
# client pauses polling for an upgrade (UPGRADING), nor once the session is closing.
_WRITABLE = frozenset({TransportState.POLLING, TransportState.PROBING, TransportState.WEBSOCKET})
_MESSAGE = PacketType.MESSAGE
_PONG = PacketType.PONG
_CLOSE = PacketType.CLOSE
_IGNORED = frozenset({PacketType.NOOP, PacketType.PING})


class ConnectionHandler(Protocol):
    """What the layer above the engine (Socket.IO) does with one session."""

    async def on_message(self, data: str | bytes) -> None: ...

    async def on_close(self, reason: CloseReason) -> None: ...

    def on_handshake_sent(self) -> None:
        """The client has its open packet now: timers for what it must do next start."""

    def on_throttled(self, retry_after: float) -> None:
        """The client sends faster than its budget: its packets are being dropped, and it
        will be disconnected if it goes on for another burst."""


OpenHandler = Callable[["EngineSession"], ConnectionHandler]


class SessionHost(Protocol):
    """What a session needs from the engine that holds it."""

    def schedule(self, session: "EngineSession", at: float) -> None:
        """Call ``session.deadline_reached`` at trio time ``at``."""

    def spawn(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start a task in the engine's nursery."""

    def session_established(self, session: "EngineSession") -> None:
        """The layer above accepted the session: it is no longer half-open."""

    def session_ended(self, session: "EngineSession") -> None:
        """The session is closed and its close handler has run."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    # Outgoing frames, and bytes, held for one client before it counts as a slow consumer;
    # and bytes held for all the clients of one address before the largest is dropped.
    client_buffer: int = 1024
    client_buffer_bytes: int = 2 * 1024 * 1024
    ip_buffer_bytes: int = 64 * 1024 * 1024
    # Packets one client may send: a burst, then a steady rate (None: unlimited).
    inbound_rate: Rate | None = None
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

    __slots__ = ("_raw_headers", "address", "address_key", "ip", "query")

    def __init__(
        self,
        address: str,
        raw_headers: Any = (),
        query: dict[str, str] | None = None,
    ) -> None:
        # "ip:port" of the client (behind a trusted proxy, the client the proxy named).
        self.address = address
        self.ip = address.rsplit(":", 1)[0]
        # What per-address limits count this client as (an IPv6 client by its /64).
        self.address_key = address_key(self.ip)
        self._raw_headers = raw_headers
        self.query = query or {}

    @property
    def headers(self) -> dict[str, str]:
        return {
            bytes(key).decode("latin-1"): bytes(value).decode("latin-1")
            for key, value in self._raw_headers
        }


class Inbound(Enum):
    """Whether the client keeps to its packet budget (``EngineConfig.inbound_rate``).

    WITHIN: packets are handled. OVER: the client was told it is over (its handler's
    ``on_throttled``) and its packets are dropped while the budget is empty; if it drops
    another burst's worth, the session is closed as a flood. A packet within the budget
    again returns it to WITHIN.
    """

    WITHIN = auto()
    OVER = auto()


_WITHIN = Inbound.WITHIN


class EngineSession:
    """One client's Engine.IO session, whichever transport carries it.

    Its transport state (:class:`~.state.TransportState`) and the requests in progress
    change only through its own methods, which the transports call; they read the rest.
    """

    # Slots: a session's attributes are read on every delivery, and past about thirty
    # attributes an instance dict no longer shares its keys (slower lookups, ~1 KB more).
    __slots__ = (
        "_client_gone",
        "_deadline",
        "_dispatch_lock",
        "_dropped_packets",
        "_flush_deadline",
        "_flushed",
        "_flushed_event",
        "_heartbeat",
        "_host",
        "_inbound",
        "_inbound_budget",
        "_poll_scope",
        "_polling",
        "_posting",
        "_state",
        "_task_scopes",
        "_timer_at",
        "_timer_callback",
        "_transport",
        "_websocket_scope",
        "_write_scopes",
        "close_reason",
        "config",
        "established",
        "flush_on_close",
        "handler",
        "metrics",
        "outbox",
        "request",
        "sid",
    )

    def __init__(
        self,
        sid: str,
        transport: str,
        config: EngineConfig,
        request: RequestInfo,
        host: SessionHost,
        metrics: Metrics | None = None,
        budget: SharedBudget | None = None,
    ) -> None:
        self.sid = sid
        self.metrics = metrics or Metrics()
        # The transport's name ("polling" until an upgrade finishes) and its state.
        self._transport = transport
        self._state = (
            TransportState.WEBSOCKET if transport == "websocket" else TransportState.POLLING
        )
        assert self._state in INITIAL
        self.config = config
        self.request = request
        self._host = host
        self.outbox = Outbox(
            config.client_buffer, config.client_buffer_bytes, budget, self._outbox_full
        )
        self.handler: ConnectionHandler | None = None
        self.close_reason: CloseReason | None = None
        # False until the layer above accepts the session (half-open until then).
        self.established = False
        # False when the session was dropped rather than closed: its queue is abandoned.
        self.flush_on_close = True
        # Cancelled to stop the WebSocket task that carries the session.
        self._websocket_scope: trio.CancelScope | None = None
        # True once the WebSocket carrying the session reported the client gone.
        self._client_gone = False
        # Long-polling requests in progress: at most one GET (cancelled through
        # _poll_scope while it waits) and one POST. Not transport states: a GET may still
        # be answering while an upgrade finishes.
        self._polling = False
        self._posting = False
        self._poll_scope: trio.CancelScope | None = None
        self._dispatch_lock: trio.Lock | None = None
        # Heartbeat and timer; the engine calls deadline_reached at _deadline.
        self._deadline: float | None = None
        self._heartbeat = PingSchedule(
            config.ping_interval, config.ping_timeout, trio.current_time()
        )
        self._timer_at: float | None = None
        self._timer_callback: Callable[[], None] | None = None
        self._inbound_budget = (
            TokenBucket(config.inbound_rate, trio.current_time()) if config.inbound_rate else None
        )
        self._inbound = Inbound.WITHIN
        self._dropped_packets = 0
        # Set by the transport once the client has everything queued before the close.
        self._flushed = False
        self._flushed_event: trio.Event | None = None
        # When a closing session stops waiting for its transport to deliver (inf while open).
        self._flush_deadline = math.inf
        # The scopes of writes in progress (see writing()); None when there are none.
        self._write_scopes: set[trio.CancelScope] | None = None
        self._task_scopes: set[trio.CancelScope] | None = None

    def start(self, open_handler: OpenHandler) -> None:
        """Hand the session to the layer above and start its heartbeat."""
        logger.info("connect %s (%s) from %s", self.sid, self.transport, self.request.address)
        self.metrics.connected.inc()
        self.handler = open_handler(self)
        self._reschedule()

    def handshake_sent(self) -> None:
        """For the transport: the open packet is written (a busy server may have taken a
        while; the client could not act before)."""
        if self.handler is not None and not self.closed:
            self.handler.on_handshake_sent()

    def establish(self) -> None:
        """The layer above accepted the client: the session stops being half-open."""
        if not self.established and not self.closed:
            self.established = True
            self._host.session_established(self)

    @property
    def dispatch_lock(self) -> trio.Lock:
        """Held while a POST's packets are handled, so an upgrade cannot overtake them."""
        if self._dispatch_lock is None:
            self._dispatch_lock = trio.Lock()
        return self._dispatch_lock

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
    def max_payload(self) -> int:
        return self.config.max_payload

    @property
    def closed(self) -> bool:
        """Closing or closed: the session takes nothing new."""
        return self.close_reason is not None

    @property
    def state(self) -> TransportState:
        return self._state

    @property
    def transport(self) -> str:
        """The transport carrying the session: "polling" until an upgrade finishes."""
        return self._transport

    @property
    def client_gone(self) -> bool:
        """The WebSocket carrying the session reported its client gone."""
        return self._client_gone

    @property
    def writable(self) -> bool:
        """The client can take a frame now: a transport waits for frames (the WebSocket
        writer is idle, perhaps with frames for the next round of direct writes, or a
        polling GET waits) and no upgrade has paused polling. What a volatile packet is
        sent on; the reference's "transport writable"."""
        return self.outbox.awaited and self._state in _WRITABLE

    def _move(self, new: TransportState) -> None:
        self._state = check_transition(self.sid, self._state, new)

    def send_frame(self, frame: Frame) -> None:
        """Queue one encoded frame; never blocks. A full queue drops the client."""
        if not self.outbox.put(frame):
            self._outbox_full()

    def send_frame_direct(self, frame: Frame) -> None:
        """Send one encoded frame in the next round of direct writes when nothing is
        queued for it and its transport allows (a broadcast's path, see
        :meth:`Outbox.put_direct`); otherwise as :meth:`send_frame`."""
        if not self.outbox.put_direct(frame):
            self._outbox_full()

    @property
    def broadcast_queue(self) -> Outbox:
        """Where a broadcast queues this client's frames together with other clients' in
        one loop (:meth:`Outbox.put_direct_many`), as :meth:`send_frame_direct` would."""
        return self.outbox

    def _outbox_full(self) -> None:
        outbox = self.outbox
        self.drop_slow_consumer(
            f"{len(outbox)} frames and {outbox.held} bytes unread "
            f"(limits {outbox.limit}, {outbox.byte_limit})"
        )

    def drop_slow_consumer(self, why: str) -> None:
        """Close at once, abandoning what is queued: the client does not read fast enough."""
        if not self.closed:
            logger.warning("dropping slow consumer %s: %s", self.sid, why)
            self.metrics.slow_consumers.inc()
        self.close(CloseReason.SLOW_CONSUMER, flush=False)

    def wrote(self, frames: list[Frame]) -> None:
        """For the transport: ``frames``, taken from the outbox, are written to the client.

        A ping queued since the last take is first in the batch (``put_first``).
        """
        if self._heartbeat.state is _QUEUED and frames and frames[0] == _PING:
            self._heartbeat.ping_written(trio.current_time())
            self._reschedule()

    def set_timer(self, at: float | None, callback: Callable[[], None] | None = None) -> None:
        """Call ``callback`` at trio time ``at`` (one timer per session; None cancels it)."""
        self._timer_at = at
        self._timer_callback = callback
        self._reschedule()

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task that lives as long as this session (cancelled when it closes)."""
        if not self.closed:
            self._host.spawn(self._run_task, task, args)

    async def _run_task(self, task: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        if self.closed:
            return
        with trio.CancelScope() as scope:
            if self._task_scopes is None:
                self._task_scopes = set()
            self._task_scopes.add(scope)
            try:
                await task(*args)
            except Exception:
                # Our bug, not the client's: this connection ends, the server goes on.
                logger.exception("a task of %s failed", self.sid)
                self.close(CloseReason.SERVER_ERROR, flush=False)
            finally:
                self._task_scopes.discard(scope)
                if not self._task_scopes:
                    # An empty set is 216 B, kept by every idle session that ever ran a task.
                    self._task_scopes = None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Write to the client inside this block (a polling answer, a closing frame).

        The write is cancelled when the session drops its client meanwhile; once the
        session is closing it has until the flush deadline. A front end whose write is
        cancelled ends the connection (part of it may be out), so a client that stopped
        reading keeps neither its connection nor what was being written to it.
        """
        with trio.CancelScope(deadline=self._flush_deadline) as scope:
            scopes = self._write_scopes
            if scopes is None:
                scopes = self._write_scopes = set()
            scopes.add(scope)
            try:
                yield
            finally:
                scopes.discard(scope)
                if not scopes and self._write_scopes is scopes:
                    self._write_scopes = None

    def mark_flushed(self) -> None:
        """Called by the transport once the client has everything queued before the close."""
        self._flushed = True
        if self._flushed_event is not None:
            self._flushed_event.set()

    def refuse(
        self, label: str, detail: str, *, reason: CloseReason = CloseReason.TRANSPORT_ERROR
    ) -> None:
        """Close the session over something the client did wrong: logged and counted under
        ``label`` (a :class:`RejectLabel`, or a label of the layer above)."""
        if self.close_reason is None:
            logger.info("rejected %s (%s): %s", self.sid, label, detail)
            self.metrics.reject(label)
        self.close(reason, flush=False)

    def close(self, reason: CloseReason, *, flush: bool = True) -> None:
        """End the session. With ``flush`` the transport first delivers what is queued."""
        if self.close_reason is not None:
            return
        self._move(TransportState.CLOSING)
        self.close_reason = reason
        self.flush_on_close = flush
        self._flush_deadline = trio.current_time() + FLUSH_TIMEOUT
        self.outbox.close(discard=not flush)
        # A client that does not read must not hold its connection past the flush: what
        # carries or writes to it is cut off at the deadline, or at once when it is dropped.
        scopes = [*(self._write_scopes or ()), self._websocket_scope]
        for scope in scopes:
            if scope is None:
                continue
            if flush:
                scope.deadline = min(scope.deadline, self._flush_deadline)
            else:
                scope.cancel()
        if not flush:
            self.release_poll()
        self._host.spawn(self._finish)

    async def _finish(self) -> None:
        try:
            if self.flush_on_close and not self._flushed:
                self._flushed_event = trio.Event()
                with trio.move_on_at(self._flush_deadline):
                    await self._flushed_event.wait()
        finally:
            for scope in self._task_scopes or ():
                scope.cancel()
            self.metrics.connected.dec()
            logger.info("disconnect %s: %s", self.sid, self.close_reason)
            try:
                if self.handler is not None:
                    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_HANDLER_TIMEOUT):
                        await self.handler.on_close(
                            self.close_reason or CloseReason.SERVER_SHUTTING_DOWN
                        )
            finally:
                self._move(TransportState.CLOSED)
                self.outbox.forget()
                self._host.session_ended(self)

    # Long-polling requests (the HTTP requests of the "polling" transport).

    def begin_poll(self) -> bool:
        """A polling GET starts; False when one is in progress already."""
        if self._polling:
            return False
        self._polling = True
        return True

    def poll_waiting(self, scope: trio.CancelScope | None) -> None:
        """The GET waits for frames under ``scope`` (cancelled to make it return); None
        once it stopped waiting."""
        self._poll_scope = scope

    def end_poll(self) -> None:
        """The polling GET is answered (its response written)."""
        self._polling = False

    def begin_post(self) -> bool:
        """A polling POST starts; False when one is in progress already."""
        if self._posting:
            return False
        self._posting = True
        return True

    def end_post(self) -> None:
        self._posting = False

    def release_poll(self) -> None:
        """Make a pending poll return now (with a NOOP if nothing is queued)."""
        if self._poll_scope is not None:
            self._poll_scope.cancel()

    # The upgrade from polling to WebSocket (PROBING, UPGRADING, then WEBSOCKET).

    def begin_upgrade(self) -> bool:
        """Reserve the session for one WebSocket upgrade; False when it cannot take one
        now (it is not on polling, another upgrade already began, or it is closing)."""
        if self._state is not TransportState.POLLING:
            return False
        self._move(TransportState.PROBING)
        return True

    def probe_answered(self) -> None:
        """The WebSocket answered the client's probe: the client pauses polling, so a
        pending poll returns now (and a new one at once)."""
        if self._state is TransportState.PROBING:
            self._move(TransportState.UPGRADING)
            self.release_poll()

    def finish_upgrade(self) -> None:
        """The client sent UPGRADE: the WebSocket takes over, a pending poll returns."""
        self._move(TransportState.WEBSOCKET)
        self._transport = "websocket"
        self.release_poll()

    def end_upgrade(self) -> None:
        """The upgrade attempt is over: if it did not finish, polling goes on."""
        if self._state is TransportState.PROBING or self._state is TransportState.UPGRADING:
            self._move(TransportState.POLLING)

    # The WebSocket transport.

    def websocket_started(self, scope: trio.CancelScope) -> None:
        """A WebSocket carries the session in tasks under ``scope`` (cancelled to drop it,
        given until the flush deadline when the session closes cleanly)."""
        self._websocket_scope = scope
        if self.closed:
            scope.deadline = min(scope.deadline, self._flush_deadline)

    def websocket_ended(self) -> None:
        self._websocket_scope = None

    def websocket_client_left(self) -> None:
        """The WebSocket's client went away (the transport cannot say goodbye to it)."""
        self._client_gone = True

    async def receive_packet(self, packet: Packet) -> None:
        """Apply one packet from the client (any transport), in the transport's task."""
        kind = packet.type
        if self._inbound_budget is not None and not self._within_budget(kind):
            return
        if kind is _MESSAGE:
            if self.handler is not None and not self.closed:
                try:
                    await self.handler.on_message(packet.data)
                except Exception:
                    # Our bug, not the client's: this connection ends, the server goes on.
                    logger.exception("handling a message from %s failed", self.sid)
                    self.close(CloseReason.SERVER_ERROR, flush=False)
        elif kind is _PONG:
            if self._heartbeat.pong(trio.current_time()):
                self._reschedule()
        elif kind is _CLOSE:
            self.close(CloseReason.TRANSPORT_CLOSE, flush=False)
        elif kind in _IGNORED:
            pass
        else:
            self.refuse(RejectLabel.BAD_PACKET, f"unexpected {kind.name} packet")

    def _within_budget(self, kind: PacketType) -> bool:
        """Spend one packet of the client's budget; False when the packet is to be dropped."""
        assert self._inbound_budget is not None
        wait = self._inbound_budget.take(trio.current_time())
        if not wait:
            self._inbound = _WITHIN
            self._dropped_packets = 0
            return True
        if kind is _PONG:
            # Cheap, and the client's liveness depends on it: never dropped.
            return True
        if self._inbound is Inbound.WITHIN:
            self._inbound = Inbound.OVER
            logger.info("%s sends faster than its budget; dropping its packets", self.sid)
            if self.handler is not None:
                self.handler.on_throttled(wait)
        self._dropped_packets += 1
        rate = self._inbound_budget.rate
        if self._dropped_packets > rate.burst:
            self.refuse(
                RejectLabel.FLOODING,
                f"went on sending {rate.burst} packets over its budget after being told",
                reason=CloseReason.FLOODING,
            )
        return False

    def _reschedule(self) -> None:
        if self.closed or self.handler is None:
            return
        at = self._heartbeat.next_deadline
        if self._timer_at is not None:
            at = min(at, self._timer_at)
        if at != self._deadline:
            self._deadline = at
            self._host.schedule(self, at)

    def deadline_reached(self, at: float, now: float) -> None:
        """Heartbeat and timer (the engine's deadline task calls this).

        The heartbeat (:class:`PingSchedule`) decides; this only feeds it the time and
        does what it says. It is also what finds dead peers that the HTTP server never
        reports as gone.
        """
        if at != self._deadline or self.closed:
            return  # superseded by a later schedule
        self._deadline = None
        if self._timer_at is not None and now >= self._timer_at:
            callback, self._timer_at, self._timer_callback = self._timer_callback, None, None
            if callback is not None:
                callback()
        if self.closed:
            return
        writable = self._transport != "polling" or self._polling
        due = self._heartbeat.due(at, now, writable=writable)
        if due is Due.PING:
            self.outbox.put_first(engineio.PING_FRAME)
        elif due is Due.TIMEOUT:
            self.close(CloseReason.PING_TIMEOUT, flush=False)
            return
        self._reschedule()
