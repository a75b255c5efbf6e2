"""One Engine.IO session seen from the client: handshake, heartbeat, writer, and the upgrade
from long-polling to WebSocket, as engine.io-client 6 does them.

The session's tasks (reader, writer, heartbeat watchdog, upgrade probe) live in one nursery
that :meth:`EngineClient.run` owns; the first of them to fail ends the session and
``close_reason`` says why, in engine.io-client's words.
"""

import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
import trio

from ..protocol import jsoncodec
from ..protocol.engineio import (
    CLOSE_FRAME,
    PONG_FRAME,
    RECORD_SEPARATOR,
    Frame,
    Packet,
    PacketType,
)
from .errors import BufferFull
from .transports import (
    Headers,
    PollingTransport,
    Transport,
    TransportClosed,
    WebSocketTransport,
    default_ssl_context,
)

logger = logging.getLogger("minidiscord.client")

MessageHandler = Callable[[Frame], Awaitable[None]]
PingHandler = Callable[[], Awaitable[None]]

# Packets per POST at most. The protocol has no such limit, but servers cap a payload's
# packets to bound the work one request makes (minidiscord at 1000), and do not say so in
# the handshake; a few more POSTs under a burst cost little.
MAX_PACKETS_PER_POST = 500

# How long a clean close may take to flush what is queued before the session just ends.
CLOSE_FLUSH_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How to reach the server and how much of it to hold (see ``Client`` for each)."""

    url: str
    path: str = "/socket.io/"
    transports: tuple[str, ...] = ("polling", "websocket")
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = ()
    open_timeout: float = 20.0
    max_message_bytes: int = 16 << 20
    max_buffered_frames: int = 1000
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if not self.transports or any(
            name not in ("polling", "websocket") for name in self.transports
        ):
            raise ValueError(f"transports must be 'polling' and/or 'websocket': {self.transports}")


@dataclass(frozen=True, slots=True)
class Handshake:
    """The server's OPEN packet."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int

    @classmethod
    def parse(cls, packet: Packet) -> "Handshake":
        if packet.type is not PacketType.OPEN or not isinstance(packet.data, str):
            raise TransportClosed("parse error", "the session did not start with OPEN")
        try:
            data = jsoncodec.loads(packet.data)
            return cls(
                sid=str(data["sid"]),
                upgrades=tuple(data.get("upgrades", ())),
                ping_interval=float(data["pingInterval"]) / 1000,
                ping_timeout=float(data["pingTimeout"]) / 1000,
                max_payload=int(data.get("maxPayload", 1_000_000)),
            )
        except (jsoncodec.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TransportClosed("parse error", f"bad OPEN packet: {exc}") from None


class EngineClient:
    """A client's Engine.IO session. Frames handed to :meth:`send` wait in a bounded queue
    (``max_buffered_frames``) that one writer task drains; received messages go to
    ``on_message`` one at a time, from the reader task, so a slow consumer slows reading
    rather than growing memory; ``on_ping`` hears each heartbeat, once it is answered."""

    def __init__(
        self,
        options: EngineOptions,
        on_message: MessageHandler,
        on_ping: PingHandler | None = None,
    ) -> None:
        self.options = options
        self._on_message = on_message
        self._on_ping = on_ping
        self.handshake: Handshake | None = None
        self.transport: Transport | None = None
        self.close_reason: str | None = None
        # What ended the session, with its detail, when a transport failure did.
        self.close_error: TransportClosed | None = None
        self._outbox: deque[Frame] = deque()
        self._wakeup = trio.Event()
        self._idle = trio.Event()
        # Held while a batch is written; the upgrade holds it to keep POSTs from starting.
        self._send_lock = trio.Lock()
        self._pausing = False
        self._closing = False
        self._close_done: trio.Event | None = None
        self._poll_stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._watch_scope: trio.CancelScope | None = None

    @property
    def transport_name(self) -> str | None:
        return self.transport.name if self.transport is not None else None

    async def run(
        self, *, task_status: trio.TaskStatus[Handshake] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the session, report its handshake, then carry it until it ends.

        Raises :class:`TransportClosed` if the session cannot be opened; once open, it
        returns when the session ends, with :attr:`close_reason` set.
        """
        options = self.options
        verify = options.ssl_context or default_ssl_context()
        # No read timeout: a long poll lasts up to a ping interval, and the heartbeat
        # watchdog is what notices a server that went silent.
        timeout = httpx.Timeout(options.open_timeout, read=None)
        failure: TransportClosed | None = None
        async with (
            httpx.AsyncClient(timeout=timeout, verify=verify) as http,
            trio.open_nursery() as nursery,
        ):
            self._nursery = nursery
            try:
                with trio.fail_after(options.open_timeout):
                    transport, packets = await self._open(nursery, http)
            except trio.TooSlowError:
                failure = TransportClosed("transport error", "timed out opening the session")
            except TransportClosed as exc:
                failure = exc
            if failure is None:
                self._start(nursery, transport, packets)
                assert self.handshake is not None
                task_status.started(self.handshake)
            else:
                nursery.cancel_scope.cancel()
        if failure is not None:
            # Raised outside the nursery, so that it is not wrapped in an exception group.
            raise failure

    def _start(self, nursery: trio.Nursery, transport: Transport, packets: list[Packet]) -> None:
        handshake = self.handshake
        assert handshake is not None
        self.transport = transport
        self._watch_scope = trio.CancelScope(deadline=self._ping_deadline())
        nursery.start_soon(self._guard, self._read, transport, packets)
        nursery.start_soon(self._guard, self._write)
        nursery.start_soon(self._guard, self._watch)
        if (
            transport.name == "polling"
            and "websocket" in handshake.upgrades
            and "websocket" in self.options.transports
        ):
            nursery.start_soon(self._guard, self._upgrade)

    def send(self, frames: Sequence[Frame], *, bounded: bool = True) -> None:
        """Queue frames for the writer; raises :class:`BufferFull` over the bound (unless
        not ``bounded``: the few control packets that must go out whatever the load)."""
        if self.close_reason is not None:
            return
        if bounded and len(self._outbox) + len(frames) > self.options.max_buffered_frames:
            raise BufferFull(f"more than {self.options.max_buffered_frames} frames wait to be sent")
        self._outbox.extend(frames)
        self._wakeup.set()

    async def close(self) -> None:
        """End the session cleanly: flush what is queued, then tell the server."""
        if self.close_reason is not None:
            return
        if self._close_done is not None:
            await self._close_done.wait()
            return
        self._close_done = trio.Event()
        try:
            await self._close()
        finally:
            self._close_done.set()

    async def _close(self) -> None:
        with trio.move_on_after(CLOSE_FLUSH_TIMEOUT):
            if self._outbox:
                self._idle = trio.Event()
                await self._idle.wait()
            async with self._send_lock:
                transport = self.transport
                if transport is not None and self.close_reason is None:
                    self._closing = True
                    try:
                        if transport.name == "polling":
                            await transport.send([CLOSE_FRAME])
                        await transport.aclose()
                    except TransportClosed:
                        pass
        self._end("forced close")

    # The session's tasks ----------------------------------------------------------------

    async def _guard(self, task: Callable[..., Awaitable[None]], *args: object) -> None:
        try:
            await task(*args)
        except TransportClosed as exc:
            if self._closing:
                # Our own close in progress: it ends the session once the transport
                # finished its closing handshake (which this nursery's tasks carry).
                return
            logger.debug("engine session %s ended: %s", self._sid(), exc)
            if self.close_reason is None:
                self.close_error = exc
            self._end(exc.reason)

    def _end(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        # A close waiting for the writer to drain must not wait for a writer that is gone.
        self._idle.set()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _sid(self) -> str:
        return self.handshake.sid if self.handshake is not None else "-"

    async def _open(
        self, nursery: trio.Nursery, http: httpx.AsyncClient
    ) -> tuple[Transport, list[Packet]]:
        options = self.options
        transport: Transport
        if options.transports[0] == "websocket":
            transport = await WebSocketTransport.connect(
                nursery,
                options.url,
                options.path,
                options.query,
                options.headers,
                options.max_message_bytes,
                options.ssl_context,
            )
            packets = await transport.receive()
        else:
            polling = PollingTransport(
                http,
                options.url,
                options.path,
                options.query,
                options.headers,
                options.max_message_bytes,
            )
            packets = await polling.receive()
            transport = polling
        if not packets:
            raise TransportClosed("parse error", "empty handshake")
        self.handshake = Handshake.parse(packets[0])
        if isinstance(transport, PollingTransport):
            transport.sid = self.handshake.sid
        return transport, packets[1:]

    def _ping_deadline(self) -> float:
        assert self.handshake is not None
        return trio.current_time() + self.handshake.ping_interval + self.handshake.ping_timeout

    async def _watch(self) -> None:
        # The scope is only ever cancelled by its deadline, which each PING pushes back.
        assert self._watch_scope is not None
        with self._watch_scope:
            await trio.sleep_forever()
        raise TransportClosed("ping timeout")

    async def _read(self, transport: Transport, packets: list[Packet]) -> None:
        while True:
            for packet in packets:
                await self._on_packet(packet)
            if transport.name == "polling" and self._pausing:
                self._poll_stopped.set()
                return
            packets = await transport.receive()

    async def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.MESSAGE:
            await self._on_message(packet.data)
        elif kind is PacketType.PING:
            if self._watch_scope is not None:
                self._watch_scope.deadline = self._ping_deadline()
            # A pong goes before whatever else waits: the server is timing it.
            self._outbox.appendleft(PONG_FRAME)
            self._wakeup.set()
            if self._on_ping is not None:
                await self._on_ping()
        elif kind is PacketType.CLOSE:
            raise TransportClosed("transport close", "the server closed the session")
        # NOOP (the server releasing a poll) and anything else: nothing to do.

    async def _write(self) -> None:
        while True:
            if not self._outbox:
                self._idle.set()
                self._wakeup = trio.Event()
                await self._wakeup.wait()
                continue
            async with self._send_lock:
                transport = self.transport
                assert transport is not None
                batch = self._take_batch(transport.name)
                await transport.send(batch)

    def _take_batch(self, transport: str) -> list[Frame]:
        if transport == "websocket":
            batch = list(self._outbox)
            self._outbox.clear()
            return batch
        # A POST carries at most the server's maxPayload (one frame alone may exceed it:
        # the server then refuses it, as it would from any client).
        assert self.handshake is not None
        budget = self.handshake.max_payload
        batch = [self._outbox.popleft()]
        size = _payload_size(batch[0])
        while self._outbox and len(batch) < MAX_PACKETS_PER_POST:
            size += len(RECORD_SEPARATOR) + _payload_size(self._outbox[0])
            if size > budget:
                break
            batch.append(self._outbox.popleft())
        return batch

    async def _upgrade(self) -> None:
        """Probe a WebSocket beside the polling session and move to it if it answers."""
        options = self.options
        assert self._nursery is not None
        assert self.handshake is not None
        websocket: WebSocketTransport | None = None
        try:
            with trio.fail_after(options.open_timeout):
                websocket = await WebSocketTransport.connect(
                    self._nursery,
                    options.url,
                    options.path,
                    {**options.query, "sid": self.handshake.sid},
                    options.headers,
                    options.max_message_bytes,
                    options.ssl_context,
                )
                await websocket.send(["2probe"])
                answer = await websocket.receive()
        except (TransportClosed, trio.TooSlowError) as exc:
            # As engine.io-client: a failed probe leaves the session on polling, and its
            # transport is closed (else its reader waits on it as long as the session).
            logger.info("websocket upgrade of %s failed: %r", self._sid(), exc)
            if websocket is not None:
                await websocket.aclose()
            return
        if answer != [Packet(PacketType.PONG, "probe")]:
            logger.info("websocket upgrade of %s: unexpected probe answer %r", self._sid(), answer)
            await websocket.aclose()
            return
        async with self._send_lock:
            # No POST is in flight now; wait for the pending GET (the server releases it).
            self._pausing = True
            await self._poll_stopped.wait()
            await websocket.send(["5"])
            self.transport = websocket
        self._wakeup.set()
        self._nursery.start_soon(self._guard, self._read, websocket, [])


def _payload_size(frame: Frame) -> int:
    if isinstance(frame, bytes):
        return 1 + (len(frame) + 2) // 3 * 4
    return len(frame.encode("utf-8"))
