"""Load generator for Socket.IO chat servers: fan-out throughput, latency and connect time.

Speaks Engine.IO 4 / Socket.IO 5 itself over websocket with a lean client (``--transport raw``,
the default), or with ``minidiscord.client`` (``--transport client``: the project's full
client, a reference that decodes every packet). C clients connect (``auth {"username"}``),
then S of them send ``message:channel:send`` at R messages/s each for D seconds. Every text
carries its send time. So that one core takes hundreds of thousands of deliveries a second,
only a sample of the clients (``--sample``, spread over the room) and the senders decode each
message (parsing a whole TCP read of frames in one pass, deliveries found by byte search);
the sample times each one, which makes the latency. The other clients are read in bulk
(``benchkit.bulk``: one epoll, frames counted by their headers). The totals are checked
against sent x channel members, each group's against its share, and the Socket.IO packets
received against what the server says it sent (its ``/metrics``). ``--send-url`` connects the
senders to another server than the receivers (another node of a cluster: the cross-node hop
is then in every delivery but the senders' own). ``--ramp`` searches for the
highest rate that holds; ``--procs`` spreads the clients over worker processes (this same
module run with ``--worker``), which talk to the coordinator in JSON lines over stdin/stdout.

Example: ``python -m scripts.loadtest --url http://127.0.0.1:8181 -c 1000 -s 10 -r 2 -d 10``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import trio

from benchkit.acquaintances import (
    JOIN_PREFIX,
    PREFIXES,
    USERS_PREFIX,
    Acquaintances,
    Usernames,
)
from benchkit.bulk import BulkReceiver
from benchkit.processes import ROOT, script_args
from benchkit.servermetrics import ServerCounts, server_counts
from benchkit.stats import Histogram, cpu_s, machine_busy_s, raise_fd_limit, rss_kib, run_delay_s
from benchkit.wire import LeanWebSocket, WireError, event_packet, parse_ack, split_url
from minidiscord.client import Client as SocketIOClient
from minidiscord.client import ClientError
from minidiscord.runtime import GcPauses

# ---------------------------------------------------------------------------------------------
# Pure parts: merging worker results, the ramp decision (the histogram is benchkit.stats).
# ---------------------------------------------------------------------------------------------

ERROR_KINDS = ("disconnected", "send", "ack")


def chat_auth(tag: str, number: int) -> dict[str, Any]:
    """A client's CONNECT auth: its name, and that it reads CONNECT_ERROR. Without that the
    chat lets a client it refuses in without joining (so a client that cannot read a
    refusal can show why): one counted as a member would get nothing, and say nothing."""
    return {"username": f"lt{tag}-{number}", "connectErrors": True}


def merge_phase_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine the per-worker reports of one phase into the phase's totals.

    Expected deliveries are computed here, not by workers: every message reaches every member
    of the channel, whichever process the sender and the receivers live in.
    """
    hist = Histogram()
    for part in parts:
        hist.merge(Histogram.from_json(part["latency"]))
    sent = sum(part["sent"] for part in parts)
    members = sum(part["members"] for part in parts)
    delivered = sum(part["delivered"] for part in parts)
    expected = sent * members
    duration = max((part["duration"] for part in parts), default=0.0)
    errors = {kind: sum(part["errors"].get(kind, 0) for part in parts) for kind in ERROR_KINDS}
    cpu = [part["cpu_percent"] for part in parts]
    packets = [part.get("packets") for part in parts]
    loadgen_cpu_s = sum(part.get("cpu_s", 0.0) for part in parts)
    return {
        "rate": parts[0]["rate"] if parts else 0.0,
        "duration": duration,
        "senders": sum(part["senders"] for part in parts),
        "members": members,
        "planned": sum(part["planned"] for part in parts),
        "sent": sent,
        "acked": sum(part["acked"] for part in parts),
        "expected": expected,
        "delivered": delivered,
        "delivery_ratio": round(delivered / expected, 6) if expected else None,
        **{
            key: sum(part.get(key, 0) for part in parts)
            for key in (
                "sample_members",
                "sample_delivered",
                "bulk_members",
                "bulk_delivered",
                "timed_members",
            )
        },
        # Every timed client times every message it gets: sent x timed_members when all came.
        "latency_samples": hist.total,
        "packets": None if None in packets else sum(p for p in packets if p is not None),
        "deliveries_per_s": round(delivered / duration, 1) if duration else 0.0,
        "latency_ms": hist.summary_ms(),
        "errors": errors,
        "loadgen_cpu_percent": cpu,
        # Each worker's collector pauses in the phase: the generator's own part of the tail.
        "loadgen_gc_pauses": [part.get("gc_pauses") for part in parts],
        # And how long each waited for a core (the machine's other work), in seconds.
        "loadgen_waited_for_a_core_s": [part.get("waited_for_a_core_s") for part in parts],
        # Steadier than the percentage on a shared machine: what the generator spent in all.
        "loadgen_us_per_delivery": round(1e6 * loadgen_cpu_s / delivered, 3) if delivered else None,
        "loadgen_bottleneck": any(value > BOTTLENECK_CPU_PERCENT for value in cpu),
    }


BOTTLENECK_CPU_PERCENT = 90.0
DEFAULT_SAMPLE = 50
HOLD_MIN_RATIO = 0.999
HOLD_MAX_P99_MS = 200.0
# A sender that could not keep its schedule means the offered load was not offered.
HOLD_MIN_SENT_FRACTION = 0.98
# After the connects, a `user:join` fan-out still under way delivers some every moment; this
# long without one (nor a client's `users` list), the rest are not coming (a server that
# sends none, as the floors do).
JOIN_STALL = 3.0


def phase_holds(result: dict[str, Any], max_p99_ms: float = HOLD_MAX_P99_MS) -> bool:
    """Whether a phase counts as sustained: all (>= 99.9%) delivered, p99 under 200 ms."""
    ratio = result["delivery_ratio"]
    p99 = result["latency_ms"]["p99"]
    if ratio is None or p99 is None or result["sent"] == 0:
        return False
    if result["sent"] < HOLD_MIN_SENT_FRACTION * result["planned"]:
        return False
    if result.get("count_errors"):
        return False
    return bool(ratio >= HOLD_MIN_RATIO and p99 < max_p99_ms)


def count_errors(result: dict[str, Any], server_frames: int | None) -> list[str]:
    """What does not add up in a merged phase result: more deliveries counted than sent to
    a group of clients (bulk or sample: the counting is wrong), or a server's own count of
    the frames it sent (``server_frames``, from its /metrics; None where it has none) that
    differs from the Socket.IO packets the clients received."""
    errors = []
    for group in ("sample", "bulk"):
        counted = result.get(f"{group}_delivered", 0)
        most = result["sent"] * result.get(f"{group}_members", 0)
        if counted > most:
            errors.append(f"{group} clients counted {counted} deliveries, at most {most} sent")
    received = result.get("packets")
    if server_frames is not None and received is not None and server_frames != received:
        errors.append(
            f"the server sent {server_frames} frames, the clients received {received} "
            f"Socket.IO packets ({server_frames - received:+d})"
        )
    return errors


@dataclass
class RampSearch:
    """Find the highest rate that holds: grow geometrically until a step fails, then bisect.

    If the first step already fails it shrinks instead. Bounded by max_steps; done when the
    bracket [held, failed] is within `precision` (a ratio) or a bound is hit.
    """

    start: float
    factor: float = 2.0
    precision: float = 1.15
    max_steps: int = 12
    min_rate: float = 0.01
    max_rate: float = 100_000.0
    held: float | None = None
    failed: float | None = None
    steps: list[tuple[float, bool]] = field(default_factory=list)

    def next_rate(self) -> float | None:
        if len(self.steps) >= self.max_steps:
            return None
        if not self.steps:
            return self.start
        if self.held is not None and self.failed is not None:
            if self.failed / self.held <= self.precision:
                return None
            return math.sqrt(self.held * self.failed)
        if self.failed is None:
            assert self.held is not None
            rate = self.held * self.factor
            return rate if rate <= self.max_rate else None
        rate = self.failed / self.factor
        return rate if rate >= self.min_rate else None

    def record(self, rate: float, held: bool) -> None:
        self.steps.append((rate, held))
        if held:
            self.held = rate if self.held is None else max(self.held, rate)
        else:
            self.failed = rate if self.failed is None else min(self.failed, rate)


# ---------------------------------------------------------------------------------------------
# The load test's texts: each carries what its receivers need to time and attribute it.
# ---------------------------------------------------------------------------------------------

DELIVERY_PREFIX = b'42["message:channel",'
MARK = b"LT|"


def message_text(phase: str, sent_at: float, sender: int, seq: int, size: int) -> str:
    """The chat text a sender sends: what a receiver needs to time and attribute it."""
    head = f"LT|{phase}|{sent_at:.6f}|{sender}|{seq}|"
    return head + "x" * max(0, size - len(head))


def parse_text(text: str) -> tuple[bytes, float] | None:
    """(phase, send time) of a load-test text as a decoded ``message:channel`` carries it."""
    if not text.startswith("LT|"):
        return None
    _, phase, sent_at, _ = text.split("|", 3)
    return phase.encode(), float(sent_at)


def parse_delivery(frame: bytes) -> tuple[bytes, float] | None:
    """(phase, send time) of a `message:channel` frame carrying a load-test text, else None.

    Found by byte search, without decoding the JSON: the text holds no characters JSON would
    escape, so it appears verbatim in the frame.
    """
    if not frame.startswith(DELIVERY_PREFIX):
        return None
    start = frame.find(MARK, len(DELIVERY_PREFIX))
    if start < 0:
        return None
    start += len(MARK)
    bar = frame.find(b"|", start)
    end = frame.find(b"|", bar + 1)
    if bar < 0 or end < 0:
        return None
    return frame[start:bar], float(frame[bar + 1 : end])


# ---------------------------------------------------------------------------------------------
# Transports: the lean websocket client (benchkit.wire; the default, for throughput); the
# full client (minidiscord.client) runs in Worker._full_client_task.
# ---------------------------------------------------------------------------------------------


class Transport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def receive_frames(self) -> list[bytes]:
        """The next batch of complete text/binary messages; an empty list once closed."""
        ...


@contextlib.asynccontextmanager
async def open_transport(url: str) -> AsyncIterator[LeanWebSocket]:
    host, port, target = split_url(url)
    ws = await LeanWebSocket.connect(host, port, target)
    try:
        yield ws
    finally:
        await ws.aclose()


# ---------------------------------------------------------------------------------------------
# Worker: owns a share of the clients, runs phases on command, reports JSON lines.
# ---------------------------------------------------------------------------------------------


@dataclass
class WorkerConfig:
    index: int
    url: str
    send_url: str  # where this worker's senders connect (the url, unless told otherwise)
    first_client: int  # global number of this worker's first client
    clients: int
    senders: int  # this worker's first `senders` clients send
    connect_concurrency: int
    connect_timeout: float
    handshake: str  # "socketio" or "engineio"
    transport: str
    channel: str
    size: int
    ack: bool
    tag: str
    # This many of this worker's clients, spread evenly over them, decode and time every
    # message (with --transport client, or a sample of at least all clients: every one);
    # the senders decode theirs (for the acks); the others are read in bulk
    # (benchkit.bulk), counted by their frame headers.
    sample: int = 0
    bulk_interval: float = 0.02
    # Clients in the whole run, over every worker (0: this worker's alone): whom each
    # client must come to know in a connect storm.
    room: int = 0


@dataclass
class PhaseState:
    phase: bytes = b""
    rate: float = 0.0
    sent: int = 0
    planned: int = 0
    acked: int = 0
    delivered: int = 0  # by the sample clients (each attributed to its phase)
    packets: int = 0  # Socket.IO packets the sample clients received in the phase
    latency: Histogram = field(default_factory=Histogram)
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    senders_done: bool = True
    # The bulk receiver's totals when the phase began: its share is what came since.
    bulk_packets: int = 0
    bulk_matches: int = 0
    bulk_members: int = 0
    timed_members: int = 0


class Client:
    def __init__(self, number: int) -> None:
        self.number = number
        self.transport: Transport | None = None
        self.sio: SocketIOClient | None = None
        self.connected = False
        self.next_ack = 0
        self.bulk = False  # read by the bulk receiver: counted, not decoded
        self.timed = True  # records the latency of each delivery
        # Whom it has been told of (chat clients: the Socket.IO handshake).
        self.acquaintances: Acquaintances | None = None


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.clients = [Client(config.first_client + i) for i in range(config.clients)]
        if config.transport == "raw" and config.sample < config.clients:
            timed = sample_positions(config.clients, config.sample)
            for index, client in enumerate(self.clients):
                client.timed = index in timed
                client.bulk = not client.timed and index >= config.senders
        if config.handshake == "socketio":
            names = Usernames(config.tag)
            room = config.room or config.clients
            for client in self.clients:
                client.acquaintances = Acquaintances(names, client.number, room)
        self.bulk = BulkReceiver(
            DELIVERY_PREFIX, config.bulk_interval, second_prefix=JOIN_PREFIX, whole=PREFIXES
        )
        self.state = PhaseState()
        # Every Socket.IO packet received, for the coordinator's "has it settled" check
        # (not Engine.IO pings: they go on as long as the clients are connected).
        self.packets = 0
        self.joins = 0  # `user:join` packets received
        self.last_join_at: float | None = None  # wall clock
        self.limiter = trio.CapacityLimiter(max(1, config.connect_concurrency))
        self.connect_latency = Histogram()
        self.connect_failures = 0
        self.connect_errors: list[str] = []  # the first few, to say why
        self.stopping = False
        # The generator's own collector pauses (its own tail), reported with each phase.
        self.gc = GcPauses()

    @property
    def connected(self) -> int:
        return sum(1 for client in self.clients if client.connected)

    def url_of(self, client: Client) -> str:
        """The server ``client`` connects to: senders (this worker's first clients) to the
        send URL, the others to the URL."""
        config = self.config
        sender = client.number - config.first_client < config.senders
        return config.send_url if sender else config.url

    async def connect_all(self, nursery: trio.Nursery, clients: Iterable[Client]) -> None:
        async with trio.open_nursery() as waiters:
            for client in clients:
                waiters.start_soon(self._connect_one, nursery, client)

    async def _connect_one(self, nursery: trio.Nursery, client: Client) -> None:
        try:
            await nursery.start(self._client_task, client)
        except Exception as exc:
            self.connect_failures += 1
            if len(self.connect_errors) < 5:
                self.connect_errors.append(repr(exc))

    async def _client_task(
        self, client: Client, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect under the concurrency cap, then read until the connection ends."""
        if self.config.transport == "client":
            await self._full_client_task(client, task_status)
            return
        async with self._connect_slot() as opened, open_transport(self.url_of(client)) as transport:
            leftover = await self._handshake(transport, client)
            opened()
            if client.bulk:
                await self._hand_over(client, transport, leftover, task_status)
                return
            client.transport = transport
            client.connected = True
            task_status.started()
            try:
                await self._read_loop(transport, leftover, client)
            except (trio.BrokenResourceError, trio.ClosedResourceError, WireError, OSError):
                pass
            finally:
                client.transport = None
                self._ended(client)

    async def _hand_over(
        self,
        client: Client,
        transport: LeanWebSocket,
        frames: list[bytes],
        task_status: trio.TaskStatus[None],
    ) -> None:
        """Give a connected client's socket to the bulk receiver; wait until it closes."""
        self._count_greeting(client, frames)
        for frame in frames:  # what arrived with the handshake: before any phase
            if frame == b"2":
                await transport.send_text("3")
        sock, rest = transport.detach()
        known = client.acquaintances
        closed = self.bulk.add(sock, rest, None if known is None else known.learn)
        client.connected = True
        task_status.started()
        try:
            await closed.wait()
        finally:
            self.bulk.discard(sock)
            self._ended(client)

    async def _full_client_task(self, client: Client, task_status: trio.TaskStatus[None]) -> None:
        """The same on ``minidiscord.client``: deliveries come decoded, to a handler."""
        config = self.config
        sio = SocketIOClient(
            auth=chat_auth(config.tag, client.number),
            transports=("websocket",),
            reconnection=False,
            timeout=config.connect_timeout,
            max_message_bytes=64 * 1024 * 1024,
        )
        sio.on("message:channel", self._delivered)
        sio.on("user:join", functools.partial(self._told, client, "user:join"))
        sio.on("users", functools.partial(self._told, client, "users"))
        async with self._connect_slot() as opened, sio.connect(self.url_of(client)):
            opened()
            client.sio = sio
            client.connected = True
            task_status.started()
            try:
                await sio.wait_closed()
            finally:
                client.sio = None
                self._ended(client)

    @contextlib.asynccontextmanager
    async def _connect_slot(self) -> AsyncIterator[Callable[[], None]]:
        """One of the connects the concurrency cap lets run at once, bounded by the connect
        timeout; the block calls what it is given once connected, which frees the slot,
        lifts the deadline and records the connect latency.

        One scope around the whole connection: the deadline bounds the connect and is lifted
        once connected (a nested fail_after could not outlive the transport's own nursery).
        """
        config = self.config
        await self.limiter.acquire()
        holding = True
        began = time.perf_counter()
        scope = trio.CancelScope(deadline=trio.current_time() + config.connect_timeout)

        def opened() -> None:
            nonlocal holding
            scope.deadline = math.inf
            self.limiter.release()
            holding = False
            self.connect_latency.record(int((time.perf_counter() - began) * 1e6))

        try:
            with scope:
                yield opened
        finally:
            if holding:
                self.limiter.release()
        if scope.cancelled_caught and holding:
            raise trio.TooSlowError(f"no connection within {config.connect_timeout} s")

    def _ended(self, client: Client) -> None:
        client.connected = False
        if not self.stopping:
            self.state.errors["disconnected"] += 1

    def _count_greeting(self, client: Client, frames: Sequence[bytes]) -> None:
        """Count the packets read with the handshake, past the CONNECT answer."""
        now = time.time()
        known = client.acquaintances
        for frame in frames:
            if frame.startswith(b"4"):
                self.packets += 1
            if frame.startswith(JOIN_PREFIX):
                self.joins += 1
                self.last_join_at = now
            if known is not None and frame.startswith(PREFIXES):
                known.learn(frame)

    def _told(self, client: Client, event: str, *args: Any) -> None:
        """The full client's `users` or `user:join`, decoded: encoded again for the one
        way of reading them (a reference client, not a hot path)."""
        self.packets += 1
        if event == "user:join":
            self.joins += 1
            self.last_join_at = time.time()
        if client.acquaintances is not None:
            client.acquaintances.learn(b"42" + orjson.dumps([event, *args]))

    def _delivered(self, _channel: str, message: dict[str, Any]) -> None:
        state = self.state
        self.packets += 1
        found = parse_text(message.get("message", ""))
        if found is not None and found[0] == state.phase:
            state.delivered += 1
            state.latency.record(int((time.time() - found[1]) * 1e6))

    def _ack_callback(self, state: PhaseState, *args: Any) -> None:
        self._count_ack(state, args)

    def _count_ack(self, state: PhaseState, args: Sequence[Any]) -> None:
        self.packets += 1
        state.acked += 1
        reply = args[0] if args else None
        if not (isinstance(reply, dict) and reply.get("ok") is True):
            state.errors["ack"] += 1

    async def _handshake(self, transport: Transport, client: Client) -> list[bytes]:
        """Engine.IO open, then (socketio) CONNECT with auth; returns frames read past it."""
        frames = await transport.receive_frames()
        if not frames or not frames[0].startswith(b"0{"):
            raise WireError(f"expected the Engine.IO open packet, got {frames[:1]!r}")
        frames = frames[1:]
        if self.config.handshake == "engineio":
            return frames
        auth = orjson.dumps(chat_auth(self.config.tag, client.number)).decode()
        await transport.send_text(f"40{auth}")
        while True:
            for i, frame in enumerate(frames):
                if frame.startswith(b"40"):
                    return frames[i + 1 :]
                if frame.startswith(b"44"):
                    raise WireError(f"CONNECT refused: {frame.decode(errors='replace')}")
                if frame == b"2":
                    await transport.send_text("3")
            frames = await transport.receive_frames()
            if not frames:
                raise WireError("closed before the Socket.IO CONNECT answer")

    async def _read_loop(self, transport: Transport, frames: list[bytes], client: Client) -> None:
        # The hot path: one clock read per batch of frames, deliveries found by byte search.
        timed, known = client.timed, client.acquaintances
        while True:
            state = self.state  # replaced at each phase start
            now = time.time()
            for frame in frames:
                if frame.startswith(b"4"):
                    state.packets += 1
                    self.packets += 1
                if frame.startswith(DELIVERY_PREFIX):
                    found = parse_delivery(frame)
                    if found is not None and found[0] == state.phase:
                        state.delivered += 1
                        if timed:
                            state.latency.record(int((now - found[1]) * 1e6))
                elif frame.startswith(JOIN_PREFIX):
                    self.joins += 1
                    self.last_join_at = now
                    if known is not None:
                        known.learn(frame)
                elif frame == b"2":
                    await transport.send_text("3")
                elif frame.startswith(b"43"):
                    ack = parse_ack(frame)
                    if ack is not None:
                        self._count_ack(state, ack[1])
                elif frame.startswith(USERS_PREFIX):
                    if known is not None:
                        known.learn(frame)
                elif frame.startswith(b"1") or frame.startswith(b"41"):
                    return
            frames = await transport.receive_frames()
            if not frames:
                return

    def begin_phase(self, phase: str, rate: float) -> None:
        """Count from now on for ``phase``: as soon as the command arrives, before its start
        time, so that another process's senders starting a little earlier lose nothing."""
        self.state = PhaseState(
            phase=phase.encode(),
            rate=rate,
            senders_done=False,
            bulk_packets=self.bulk.packets,
            bulk_matches=self.bulk.matches,
            bulk_members=sum(1 for client in self.clients if client.bulk and client.connected),
            timed_members=sum(1 for client in self.clients if client.timed and client.connected),
        )

    async def run_phase(self, rate: float, duration: float, start_at: float) -> None:
        """Send the phase begun by :meth:`begin_phase` from ``start_at``."""
        state = self.state
        senders = [c for c in self.clients[: self.config.senders] if c.connected]
        per_sender = math.ceil(rate * duration - 1e-9) if rate > 0 else 0
        state.planned = per_sender * self.config.senders
        # Convert the shared wall-clock start into this process's trio clock once.
        trio_start = trio.current_time() + (start_at - time.time())
        async with trio.open_nursery() as nursery:
            for client in senders:
                nursery.start_soon(self._sender, client, state, per_sender, trio_start, duration)
        state.senders_done = True

    async def _sender(
        self, client: Client, state: PhaseState, count: int, trio_start: float, duration: float
    ) -> None:
        config = self.config
        interval = duration / count if count else 0.0
        # Senders spread over the interval (golden-ratio offsets), not firing in lockstep bursts.
        offset = interval * ((client.number * 0.6180339887) % 1.0)
        # Falling far behind means the generator is overloaded; stop rather than run on.
        give_up = trio_start + duration + 1.0
        for seq in range(count):
            await trio.sleep_until(trio_start + offset + seq * interval)
            transport, sio = client.transport, client.sio
            if (transport is None and sio is None) or trio.current_time() > give_up:
                return
            text = message_text(state.phase.decode(), time.time(), client.number, seq, config.size)
            if sio is not None:
                try:
                    sio.emit(
                        "message:channel:send",
                        config.channel,
                        text,
                        callback=functools.partial(self._ack_callback, state)
                        if config.ack
                        else None,
                    )
                except ClientError:
                    state.errors["send"] += 1
                    return
                state.sent += 1
                continue
            assert transport is not None
            ack_id: int | None = None
            if config.ack:
                ack_id = client.next_ack
                client.next_ack += 1
            try:
                await transport.send_text(
                    event_packet("message:channel:send", (config.channel, text), ack_id)
                )
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                state.errors["send"] += 1
                return
            state.sent += 1

    def _bulk_delivered(self) -> int:
        return self.bulk.matches - self.state.bulk_matches

    def phase_report(
        self, members: int, cpu_s: float, wall_s: float, duration: float
    ) -> dict[str, Any]:
        state = self.state
        bulk_members = state.bulk_members
        bulk_delivered = self._bulk_delivered()
        # The full client decodes only the events it has handlers for: no packet count.
        packets = None
        if self.config.transport == "raw":
            packets = state.packets + self.bulk.packets - state.bulk_packets
        return {
            "type": "result",
            "rate": state.rate,
            "duration": duration,
            "senders": self.config.senders,
            "members": members,
            "planned": state.planned,
            "sent": state.sent,
            "acked": state.acked,
            "delivered": state.delivered + bulk_delivered,
            "sample_members": members - bulk_members,
            "sample_delivered": state.delivered,
            "bulk_members": bulk_members,
            "bulk_delivered": bulk_delivered,
            "timed_members": state.timed_members,
            "packets": packets,
            "latency": state.latency.to_json(),
            "errors": state.errors,
            "cpu_percent": round(100.0 * cpu_s / wall_s, 1) if wall_s > 0 else 0.0,
            "cpu_s": round(cpu_s, 4),
        }

    def progress(self) -> dict[str, Any]:
        # The connected chat clients' knowledge of each other (a connect storm's end).
        knowing = missing = twice = 0
        knew_all_at: float | None = None
        for client in self.clients:
            known = client.acquaintances
            if known is None or not client.connected:
                continue
            missing += known.missing
            twice += known.twice
            if known.missing == 0:
                knowing += 1
                at = known.knew_everyone_at
                if at is not None and (knew_all_at is None or at > knew_all_at):
                    knew_all_at = at
        return {
            "knowing": knowing,
            "missing": missing,
            "twice": twice,
            "knew_all_at": knew_all_at,
            "type": "progress",
            "connected": self.connected,
            "sent": self.state.sent,
            "acked": self.state.acked,
            "delivered": self.state.delivered + self._bulk_delivered(),
            "packets": self.packets + self.bulk.packets,
            "joins": self.joins + self.bulk.second_matches,
            "last_join_at": max(
                (at for at in (self.last_join_at, self.bulk.second_at) if at is not None),
                default=None,
            ),
            "senders_done": self.state.senders_done,
        }


async def worker_main() -> None:
    """Run as `loadtest.py --worker`: commands arrive on stdin, reports leave on stdout."""
    raise_fd_limit()
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    stdout = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    send, receive = trio.open_memory_channel[dict[str, Any]](1000)
    worker: Worker | None = None

    async def writer() -> None:
        async for message in receive:
            try:
                await stdout.send_all(orjson.dumps(message) + b"\n")
            except trio.BrokenResourceError:
                # The coordinator is gone (stopped by whoever ran it): nobody is left to
                # read a report, so the clients end with it.
                outer.cancel_scope.cancel()
                return

    async def progress() -> None:
        while True:
            await trio.sleep(0.25)
            if worker is not None:
                await send.send(worker.progress())

    async with trio.open_nursery() as outer:
        outer.start_soon(writer)
        # Clients, commands in flight and the progress ticker all end when "quit" (or EOF) does.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(progress)
            finish = trio.Event()
            async for command in read_json_lines(stdin):
                op = command["op"]
                if op == "connect":
                    worker = Worker(WorkerConfig(**command["config"]))
                    worker.gc.install()
                    nursery.start_soon(worker.bulk.run)
                    nursery.start_soon(_connect_command, worker, nursery, send)
                elif op == "prepare" and worker is not None:
                    nursery.start_soon(_prepare_command, worker, nursery, send)
                elif op == "run" and worker is not None:
                    finish = trio.Event()
                    nursery.start_soon(_run_command, worker, command, finish, send)
                elif op == "finish":
                    finish.set()
                elif op == "quit":
                    break
            if worker is not None:
                worker.stopping = True
            nursery.cancel_scope.cancel()
        await send.send({"type": "bye"})
        await send.aclose()


async def _connect_command(
    worker: Worker, clients: trio.Nursery, send: trio.MemorySendChannel[dict[str, Any]]
) -> None:
    started_wall = time.time()
    cpu0 = time.process_time()
    await worker.connect_all(clients, worker.clients)
    ended_wall = time.time()
    cpu = time.process_time() - cpu0
    await send.send(
        {
            "type": "connected",
            "index": worker.config.index,
            "connected": worker.connected,
            "failed": worker.connect_failures,
            "failures": worker.connect_errors,
            "started": started_wall,
            "ended": ended_wall,
            "latency": worker.connect_latency.to_json(),
            "cpu_percent": round(100.0 * cpu / max(ended_wall - started_wall, 1e-6), 1),
        }
    )


async def _prepare_command(
    worker: Worker, clients: trio.Nursery, send: trio.MemorySendChannel[dict[str, Any]]
) -> None:
    """Reconnect clients a previous phase lost (slow consumers dropped by the server)."""
    lost = [client for client in worker.clients if not client.connected]
    if lost:
        await worker.connect_all(clients, lost)
    await send.send({"type": "prepared", "members": worker.connected, "reconnected": len(lost)})


async def _run_command(
    worker: Worker,
    command: dict[str, Any],
    finish: trio.Event,
    send: trio.MemorySendChannel[dict[str, Any]],
) -> None:
    start_at = float(command["start_at"])
    duration = float(command["duration"])
    members = worker.connected
    worker.begin_phase(command["phase"], float(command["rate"]))
    await trio.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    waited0 = run_delay_s(os.getpid())
    wall0 = time.time()
    await worker.run_phase(float(command["rate"]), duration, start_at)
    # Drain: the coordinator says when every delivery is in, or the deadline passes.
    with trio.move_on_after(max(0.0, start_at + duration + float(command["drain"]) - time.time())):
        await finish.wait()
    await worker.bulk.read_round()  # what arrived since its last round counts too
    cpu = time.process_time() - cpu0
    wall = time.time() - wall0
    report = worker.phase_report(members, cpu, wall, duration)
    report["gc_pauses"] = worker.gc.summary(wall0)
    waited = run_delay_s(os.getpid())
    report["waited_for_a_core_s"] = (
        None if waited is None or waited0 is None else round(waited - waited0, 3)
    )
    await send.send(report)


async def read_json_lines(stream: trio.abc.ReceiveStream) -> AsyncIterator[dict[str, Any]]:
    buf = bytearray()
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        buf += data
        while (newline := buf.find(b"\n")) >= 0:
            line = bytes(buf[:newline])
            del buf[: newline + 1]
            if line.strip():
                yield orjson.loads(line)


# ---------------------------------------------------------------------------------------------
# Coordinator: spawns the workers, runs the schedule, merges, reports.
# ---------------------------------------------------------------------------------------------


class WorkerGone(Exception):
    """A worker process ended or broke its reporting protocol."""


class WorkerHandle:
    def __init__(self, index: int, process: trio.Process) -> None:
        self.index = index
        self.process = process
        self.progress: dict[str, Any] = {}
        self.inbox_send, self.inbox = trio.open_memory_channel[dict[str, Any]](100)

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(orjson.dumps(command) + b"\n")

    async def read(self) -> None:
        assert self.process.stdout is not None
        try:
            async for message in read_json_lines(self.process.stdout):
                if message["type"] == "progress":
                    self.progress = message
                else:
                    await self.inbox_send.send(message)
        finally:
            await self.inbox_send.send({"type": "exit"})

    async def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        with trio.fail_after(timeout):
            message = await self.inbox.receive()
        if message["type"] != kind:
            raise WorkerGone(f"worker {self.index}: expected {kind!r}, got {message['type']!r}")
        return message


def sample_positions(clients: int, sample: int) -> set[int]:
    """Which of ``clients`` (numbered in the order they connect) are the ``sample`` timed
    ones: spread evenly, as servers write a broadcast to their members in turn, so the first
    to connect hear it first (a sample of the first few would measure too low a latency)."""
    sample = min(sample, clients)
    return {int((index + 0.5) * clients / sample) for index in range(sample)}


def split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Options:
    url: str
    send_url: str | None
    clients: int
    connect_concurrency: int
    senders: int
    rate: float
    duration: float
    drain: float
    channel: str
    size: int
    ack: bool
    procs: int
    ramp: bool
    ramp_steps: int
    max_p99: float
    handshake: str
    transport: str
    connect_timeout: float
    hold: float
    server_pid: int | None
    quiet: bool
    json: bool
    sample: int = DEFAULT_SAMPLE
    bulk_interval: float = 0.02


class Progress:
    """The live status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last_plain = 0.0

    def show(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()
        elif time.monotonic() - self.last_plain >= 5.0:
            self.last_plain = time.monotonic()
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def done(self, text: str) -> None:
        if self.quiet:
            return
        sys.stderr.write(("\r\x1b[2K" if self.tty else "") + text + "\n")
        sys.stderr.flush()


class ServerProbe:
    """CPU and memory of a local server process, when its pid is known."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def rss_kib(self) -> int | None:
        return None if self.pid is None else rss_kib(self.pid)

    def cpu_s(self) -> float | None:
        return None if self.pid is None else cpu_s(self.pid)


class Coordinator:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.workers: list[WorkerHandle] = []
        self.progress = Progress(options.quiet)
        self.probe = ServerProbe(options.server_pid)
        self.phase_counter = 0
        self.tag = secrets.token_hex(3)

    async def run(self) -> dict[str, Any]:
        options = self.options
        async with trio.open_nursery() as nursery:
            try:
                await self._spawn(nursery)
                report: dict[str, Any] = {
                    "url": options.url,
                    "send_url": options.send_url or options.url,
                    "clients": options.clients,
                    "procs": len(self.workers),
                    "senders": options.senders,
                    "channel": options.channel,
                    "handshake": options.handshake,
                    "transport": options.transport,
                }
                report["connect"] = await self._connect()
                if options.hold > 0:
                    await self._hold(options.hold)
                    report["connect"]["still_connected"] = self._totals()["connected"]
                report["phases"] = []
                if report["connect"]["connected"] == 0:
                    self.progress.done(f"no client connected: {report['connect']['failures']}")
                elif options.handshake == "socketio" and options.duration > 0 and options.senders:
                    if options.ramp:
                        report["ramp"] = await self._ramp(report["phases"])
                        report["result"] = report["ramp"]["best"]
                    else:
                        result = await self._phase(options.rate)
                        report["phases"].append(result)
                        report["result"] = result
                return report
            finally:
                with trio.CancelScope(shield=True):
                    await self._shutdown()
                nursery.cancel_scope.cancel()

    async def _spawn(self, nursery: trio.Nursery) -> None:
        for index in range(self.options.procs):
            process = await trio.lowlevel.open_process(
                script_args("loadtest", "--worker"),
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            handle = WorkerHandle(index, process)
            self.workers.append(handle)
            nursery.start_soon(handle.read)

    async def _shutdown(self) -> None:
        for handle in self.workers:
            with contextlib.suppress(Exception):
                await handle.send({"op": "quit"})
        with trio.move_on_after(10):
            for handle in self.workers:
                await handle.process.wait()
        for handle in self.workers:
            if handle.process.returncode is None:
                handle.process.kill()
                await handle.process.wait()

    def _totals(self) -> dict[str, Any]:
        keys = (
            *("connected", "sent", "acked", "delivered", "packets", "joins"),
            *("knowing", "missing", "twice"),
        )
        totals: dict[str, Any] = {key: 0 for key in keys}
        for handle in self.workers:
            for key in keys:
                totals[key] += handle.progress.get(key, 0)
        totals["senders_done"] = all(h.progress.get("senders_done", True) for h in self.workers)
        for latest in ("last_join_at", "knew_all_at"):
            totals[latest] = max(
                (at for h in self.workers if (at := h.progress.get(latest)) is not None),
                default=None,
            )
        return totals

    async def _connect(self) -> dict[str, Any]:
        options = self.options
        clients = split_evenly(options.clients, len(self.workers))
        senders = split_evenly(min(options.senders, options.clients), len(self.workers))
        samples = split_evenly(options.sample, len(self.workers))
        concurrency = split_evenly(
            max(options.connect_concurrency, len(self.workers)), len(self.workers)
        )
        first = 0
        rss_before = self.probe.rss_kib()
        for handle, count, sending, cap, sample in zip(
            self.workers, clients, senders, concurrency, samples, strict=True
        ):
            config = WorkerConfig(
                index=handle.index,
                url=options.url,
                send_url=options.send_url or options.url,
                first_client=first,
                clients=count,
                senders=min(sending, count),
                connect_concurrency=cap,
                connect_timeout=options.connect_timeout,
                handshake=options.handshake,
                transport=options.transport,
                channel=options.channel,
                size=options.size,
                ack=options.ack,
                tag=self.tag,
                sample=sample,
                bulk_interval=options.bulk_interval,
                room=options.clients,
            )
            first += count
            await handle.send({"op": "connect", "config": config.__dict__})
        # Bounded: every connection has its own timeout; this is a backstop on top.
        limit = options.connect_timeout * (
            1 + options.clients / max(1, options.connect_concurrency)
        )
        started = time.monotonic()
        results: list[dict[str, Any]] = []

        async def collect(handle: WorkerHandle) -> None:
            results.append(await handle.expect("connected", limit))

        async def show() -> None:
            while True:
                elapsed = time.monotonic() - started
                done = self._totals()["connected"]
                self.progress.show(
                    f"connecting {done}/{options.clients} {elapsed:.1f}s "
                    f"({done / max(elapsed, 1e-6):.0f}/s)"
                )
                await trio.sleep(0.25)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(show)
            async with trio.open_nursery() as collectors:
                for handle in self.workers:
                    collectors.start_soon(collect, handle)
            nursery.cancel_scope.cancel()
        results.sort(key=lambda r: int(r["index"]))
        hist = Histogram()
        for result in results:
            hist.merge(Histogram.from_json(result["latency"]))
        took = max(r["ended"] for r in results) - min(r["started"] for r in results)
        connected = sum(r["connected"] for r in results)
        summary: dict[str, Any] = {
            "clients": options.clients,
            "connected": connected,
            "failed": sum(r["failed"] for r in results),
            "failures": [text for r in results for text in r["failures"]][:5],
            "time_s": round(took, 3),
            "per_s": round(connected / took, 1) if took > 0 else None,
            "latency_ms": hist.summary_ms(),
            "loadgen_cpu_percent": [r["cpu_percent"] for r in results],
        }
        # Connecting makes the chat server fan out `user:join` to everyone already there
        # (quadratic in clients); measure memory and start phases only once that is over.
        started_at = min(r["started"] for r in results)
        chat = options.handshake == "socketio"
        quiet = await self._settle(
            limit=max(15.0, options.connect_timeout * 2), knowing=connected if chat else None
        )
        summary["settled_s"] = round(time.time() - started_at, 3)
        summary["quiet"] = quiet  # false: still receiving when the wait's limit passed
        if chat:
            totals = self._totals()
            # At most: each client announced to every one before it (one node, one at a
            # time); a cluster tells clients arriving together of each other in `users`.
            summary["joins"] = {
                "delivered": totals["joins"],
                "most": connected * (connected - 1) // 2,
            }
            summary["acquaintances"] = {
                "clients": connected,
                "knowing_everyone": totals["knowing"],
                "missing": totals["missing"],
                "twice": totals["twice"],
            }
            # When the last client came to know the last other one, if every client of
            # the run connected and knows every other.
            last = totals["knew_all_at"]
            if connected == totals["knowing"] == options.clients > 1 and last is not None:
                summary["fanout_s"] = round(last - started_at, 3)
        if rss_before is not None:
            rss_after = self.probe.rss_kib()
            if rss_after is not None:
                summary["server_rss_kib"] = {"before": rss_before, "after": rss_after}
                summary["server_kib_per_connection"] = round(
                    (rss_after - rss_before) / max(1, connected), 2
                )
        self.progress.done(
            f"connected {connected}/{options.clients} in {took:.2f}s, {summary['failed']} failed, "
            f"quiet after {summary['settled_s']:.2f}s"
        )
        return summary

    async def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.progress.show(
                f"holding {self._totals()['connected']} connections, {left:.0f}s left"
            )
            await trio.sleep(min(0.5, left))

    async def _phase(self, rate: float) -> dict[str, Any]:
        options = self.options
        self.phase_counter += 1
        phase = f"{self.tag}{self.phase_counter}"
        members = reconnected = 0
        for handle in self.workers:
            await handle.send({"op": "prepare"})
        for handle in self.workers:
            prepared = await handle.expect("prepared", options.connect_timeout * 2)
            members += prepared["members"]
            reconnected += prepared["reconnected"]
        counts_before = await self._server_counts()
        start_at = time.time() + 0.3
        command = {
            "op": "run",
            "phase": phase,
            "rate": rate,
            "duration": options.duration,
            "drain": options.drain,
            "start_at": start_at,
        }
        for handle in self.workers:
            await handle.send(command)
        await trio.sleep(max(0.0, start_at - time.time()))
        cpu0, busy0, wall0 = self.probe.cpu_s(), machine_busy_s(), time.time()
        end_of_sending = start_at + options.duration
        deadline = end_of_sending + options.drain
        while (now := time.time()) < deadline:
            totals = self._totals()
            expected = totals["sent"] * members
            elapsed = max(1e-6, now - start_at)
            self.progress.show(
                f"rate {rate:g}/s x {options.senders} {elapsed:4.1f}s sent {totals['sent']} "
                f"delivered {totals['delivered']}/{expected} "
                f"({totals['delivered'] / elapsed:,.0f}/s) conns {totals['connected']}"
            )
            if (
                now >= end_of_sending
                and totals["senders_done"]
                and totals["delivered"] >= expected
                and (not options.ack or totals["acked"] >= totals["sent"])
            ):
                break
            await trio.sleep(0.1)
        for handle in self.workers:
            await handle.send({"op": "finish"})
        cpu1, busy1, wall = self.probe.cpu_s(), machine_busy_s(), time.time() - wall0
        parts = [await handle.expect("result", options.drain + 30) for handle in self.workers]
        result = merge_phase_results(parts)
        counted = (await self._server_counts()).since(counts_before)
        server_frames = counted.frames
        result["server_frames"] = server_frames
        # What the deliveries cost the server in system calls (native front end).
        result["server_rounds"] = counted.rounds
        result["server_round_writes"] = counted.round_writes
        result["count_errors"] = count_errors(result, server_frames)
        # Wall-clock bounds of the sending and draining, for counters sampled outside.
        result["window"] = [round(wall0, 3), round(wall0 + wall, 3)]
        ours = sum(result["loadgen_cpu_percent"])
        if cpu0 is not None and cpu1 is not None:
            result["server_cpu_percent"] = round(100.0 * (cpu1 - cpu0) / wall, 1)
            # Raw seconds too: CPU per delivery divides them by "delivered" (fanout_cost).
            result["server_cpu_s"] = round(cpu1 - cpu0, 3)
            ours += result["server_cpu_percent"]
        if busy0 is not None and busy1 is not None:
            # What the rest of the machine used meanwhile: a noisy neighbour skews the figures.
            result["other_cpu_percent"] = round(max(0.0, 100.0 * (busy1 - busy0) / wall - ours), 1)
        result["reconnected_before"] = reconnected
        result["held"] = phase_holds(result, options.max_p99)
        verdict = "held" if result["held"] else "FAILED"
        for error in result["count_errors"]:
            self.progress.done(f"COUNTS DO NOT MATCH: {error}")
        self.progress.done(
            f"rate {rate:g}/s per sender: {result['deliveries_per_s']:,.0f} deliveries/s, "
            f"ratio {result['delivery_ratio']}, p99 {result['latency_ms']['p99']} ms, "
            f"loadgen cpu {result['loadgen_cpu_percent']} -> {verdict}"
        )
        return result

    async def _server_counts(self) -> ServerCounts:
        """What the servers (--url and --send-url) have sent, by their own /metrics."""
        urls = sorted({self.options.url, self.options.send_url or self.options.url})
        counts = [await trio.to_thread.run_sync(server_counts, url) for url in urls]
        total = counts[0]
        for more in counts[1:]:
            total = total.plus(more)
        return total

    async def _settle(
        self, quiet_for: float = 0.6, limit: float = 15.0, knowing: int | None = None
    ) -> bool:
        """Wait until ``knowing`` clients each know every other (when given; or until no
        `user:join` or `users` list has arrived for ``JOIN_STALL`` seconds: a server that
        sends none, as the floors, or tells some client of fewer than everyone), then until
        no Socket.IO packets arrive, so a backlog from this phase cannot skew the next;
        whether that happened within ``limit`` seconds. Engine.IO pings do not count: with
        thousands of clients one arrives every few milliseconds."""
        deadline = time.monotonic() + limit
        seen: tuple[int, int] | None = None
        changed = time.monotonic()
        while knowing is not None and time.monotonic() < deadline:
            totals = self._totals()
            if totals["knowing"] >= knowing:
                break
            have = (totals["joins"], totals["missing"])
            if have != seen:
                seen, changed = have, time.monotonic()
            elif time.monotonic() - changed > JOIN_STALL:
                break
            self.progress.show(
                f"waiting until every client knows every other ({totals['knowing']}/{knowing})"
            )
            await trio.sleep(0.1)
        last = self._totals()["packets"]
        while time.monotonic() < deadline:
            await trio.sleep(quiet_for)
            now = self._totals()["packets"]
            if now == last:
                return True
            self.progress.show(f"waiting for the server to go quiet ({now - last} packets)")
            last = now
        return False

    async def _ramp(self, phases: list[dict[str, Any]]) -> dict[str, Any]:
        search = RampSearch(start=self.options.rate, max_steps=self.options.ramp_steps)
        best: dict[str, Any] | None = None
        while (rate := search.next_rate()) is not None:
            if search.steps:
                await self._settle()
            result = await self._phase(rate)
            phases.append(result)
            search.record(rate, result["held"])
            if result["held"] and (best is None or rate > best["rate"]):
                best = result
        return {
            "best": best,
            "best_rate": search.held,
            "failed_rate": search.failed,
            "steps": len(search.steps),
        }


def format_report(report: dict[str, Any]) -> str:
    connect = report["connect"]
    lines = [
        f"target       {report['url']}  ({report['clients']} clients, {report['procs']} procs, "
        f"{report['handshake']} handshake, {report['transport']} transport)",
        f"connect      {connect['connected']}/{connect['clients']} in {connect['time_s']} s "
        f"({connect['per_s']}/s), {connect['failed']} failed, server quiet after "
        f"{connect['settled_s']} s, latency {connect['latency_ms']}",
    ]
    if "acquaintances" in connect:
        known = connect["acquaintances"]
        lines.append(
            f"users        {known['knowing_everyone']}/{known['clients']} clients know every "
            f"other ({known['missing']} missing, {known['twice']} told twice), the last "
            f"after {connect.get('fanout_s')} s; {connect['joins']['delivered']} user:join "
            f"(at most {connect['joins']['most']})"
        )
    if report.get("send_url", report["url"]) != report["url"]:
        lines.append(f"senders      connect to {report['send_url']}")
    if "server_kib_per_connection" in connect:
        lines.append(
            f"server rss   {connect['server_rss_kib']} -> "
            f"{connect['server_kib_per_connection']} KiB per connection"
        )
    for phase in report.get("phases", []):
        lines.append(
            f"phase        rate {phase['rate']:g}/s x {phase['senders']} senders, "
            f"{phase['members']} members: sent {phase['sent']}/{phase['planned']}, "
            f"delivered {phase['delivered']}/{phase['expected']} "
            f"(ratio {phase['delivery_ratio']}), {phase['deliveries_per_s']:,.0f}/s, "
            f"latency {phase['latency_ms']}, errors {phase['errors']}, "
            f"loadgen cpu {phase['loadgen_cpu_percent']}%"
            + (
                f", server cpu {phase['server_cpu_percent']}%"
                if "server_cpu_percent" in phase
                else ""
            )
            + (
                f", other processes {phase['other_cpu_percent']}%"
                if "other_cpu_percent" in phase
                else ""
            )
            + (" HELD" if phase["held"] else " FAILED")
        )
        lines.append(
            f"  counted    {phase['sample_delivered']} by {phase['sample_members']} decoding "
            f"clients (sample, senders), {phase['bulk_delivered']} by {phase['bulk_members']} "
            "in bulk; "
            f"server sent {phase['server_frames']} frames, clients received "
            f"{phase['packets']} packets"
        )
        lines += [f"  MISMATCH   {error}" for error in phase["count_errors"]]
    result = report.get("result")
    if result is not None:
        lines.append(
            f"result       {result['deliveries_per_s']:,.0f} deliveries/s, p50 "
            f"{result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms"
        )
        if result["loadgen_bottleneck"]:
            lines.append(
                "warning      the load generator used > 90% of a core: it may have been the "
                "bottleneck; use more --procs"
            )
    elif report.get("ramp"):
        lines.append("result       no rate held")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8181")
    parser.add_argument(
        "--send-url",
        help="where the senders connect (default: --url); the other clients, which only "
        "receive, connect to --url: e.g. two nodes of one cluster",
    )
    parser.add_argument("-c", "--clients", type=int, default=100)
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("-s", "--senders", type=int, default=10)
    parser.add_argument(
        "-r",
        "--rate",
        type=float,
        default=1.0,
        help="messages/s per sender (with --ramp: the first step)",
    )
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds of sending")
    parser.add_argument(
        "--drain", type=float, default=5.0, help="max seconds to wait for deliveries after sending"
    )
    parser.add_argument("--channel", default="general")
    parser.add_argument("--size", type=int, default=64, help="characters per message text")
    parser.add_argument(
        "--no-ack", dest="ack", action="store_false", help="send without asking for acks"
    )
    parser.add_argument("-p", "--procs", type=int, default=1)
    parser.add_argument(
        "--ramp",
        action="store_true",
        help="find the highest rate with ratio >= 0.999 and p99 < 200 ms",
    )
    parser.add_argument("--ramp-steps", type=int, default=10)
    parser.add_argument(
        "--max-p99",
        type=float,
        default=HOLD_MAX_P99_MS,
        help="p99 latency (ms) a step must stay under to hold",
    )
    parser.add_argument(
        "--handshake",
        choices=("socketio", "engineio"),
        default="socketio",
        help="engineio: websocket + Engine.IO open only (connection capacity)",
    )
    parser.add_argument(
        "--transport",
        choices=("raw", "client"),
        default="raw",
        help="raw: the lean websocket client (throughput); client: minidiscord.client",
    )
    parser.add_argument(
        "--sample",
        type=int,
        help="clients, spread over the room, that decode and time every message (default: "
        "50, at most a tenth of the clients); the senders decode theirs; the others count "
        "frames by their headers (raw transport)",
    )
    parser.add_argument(
        "--bulk-interval",
        type=float,
        default=0.02,
        help="seconds between two rounds of reading the bulk clients",
    )
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument(
        "--hold", type=float, default=0.0, help="seconds to stay connected idle after connecting"
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        help="a local server's pid: report its memory per connection and CPU use",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.procs < 1 or args.rate <= 0 or args.duration < 0:
        parser.error("clients and procs must be >= 1, rate > 0, duration >= 0")
    if args.sample is None:
        args.sample = min(DEFAULT_SAMPLE, max(1, args.clients // 10))
    if args.sample < 1 or args.bulk_interval < 0:
        parser.error("--sample must be >= 1 (the latency is the sample's), --bulk-interval >= 0")
    if args.senders > args.clients:
        parser.error("more senders than clients")
    if args.transport == "client" and args.handshake == "engineio":
        parser.error("--transport client always makes the Socket.IO handshake")
    return Options(
        url=args.url,
        send_url=args.send_url.rstrip("/") if args.send_url else None,
        clients=args.clients,
        connect_concurrency=args.connect_concurrency,
        senders=args.senders,
        rate=args.rate,
        duration=args.duration,
        drain=args.drain,
        channel=args.channel,
        size=args.size,
        ack=args.ack,
        procs=min(args.procs, args.clients),
        ramp=args.ramp,
        ramp_steps=args.ramp_steps,
        max_p99=args.max_p99,
        handshake=args.handshake,
        transport=args.transport,
        connect_timeout=args.connect_timeout,
        hold=args.hold,
        server_pid=args.server_pid,
        quiet=args.quiet,
        json=args.json,
        sample=args.sample,
        bulk_interval=args.bulk_interval,
    )


def run_command(
    url: str, *options: str, prefix: Sequence[str] = (), timeout: float | None = None
) -> dict[str, Any]:
    """This load test as a command of its own (``prefix`` in front, e.g. ``taskset``), so
    it measures from outside the caller's process: its JSON report. Raises RuntimeError if
    it fails."""
    command = [*prefix, *script_args("loadtest", "--url", url, "--json", "-q", *options)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"loadtest exited with {done.returncode}: {errors}")
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        trio.run(worker_main)
        return 0
    options = parse_args(argv)
    raise_fd_limit()
    try:
        report = trio.run(Coordinator(options).run)
    except WorkerGone as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 1
    if options.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
