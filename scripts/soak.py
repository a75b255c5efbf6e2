"""Soak run: many chat clients join, chat, leave and reconnect at random for a bounded time.

Every client is a ``minidiscord.client.Client`` over WebSocket (no reconnection of its own:
the script decides when a client comes back, and restores its session itself) and does one
random action every 1-5 s: send a message (with an ack), ask for history, disconnect
and restore its session with ``auth {sessionId}``, or ``user:leave`` and come back as a new
user. While it runs it checks:

* delivery: every acknowledged message reached, exactly once, every connection that was ready
  (had its ``session`` event) before the send was issued and that stayed connected until the
  ack arrived plus a grace period; the sender also has its own message before the ack;
* order: on each connection, ``message:channel`` ids increase per channel, never repeat;
* the server's resident memory and open file descriptors (read from /proc/PID) stay flat
  after warm-up, and the descriptors go back down once every client has left;
* nothing unexpected: no refused or lost ack, no connection dropped by the server, no failed
  restore, and (for a server this script starts) no log record at ERROR or above.

It prints a summary (``--json`` for one JSON object) and exits 1 on any violation.
Example: ``python -m scripts.soak --clients 500 --duration 600``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import trio

from benchkit.processes import free_port, running, server_args
from benchkit.redis import running_redis
from benchkit.stats import open_fds, raise_fd_limit, rss_kib
from minidiscord.client import CallTimeout, Client, ConnectError, Disconnected

CHANNELS = ("welcome", "general", "react", "learners", "casual")
# At most this many examples of each violation kind are kept for the summary.
EXAMPLES_PER_KIND = 5

# ---------------------------------------------------------------------------------------------
# Pure parts: the delivery ledger and the resource verdict (unit-tested in tests/test_soak.py).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acked:
    """A message the server acknowledged with ``{ok: true, id}``."""

    channel: str
    id: int
    issued_at: float
    acked_at: float
    sender: int


@dataclass(eq=False)
class Epoch:
    """One websocket connection of one client, from its `session` event to its close."""

    client: int
    number: int
    # Which of the servers (--url, or the nodes this script started) it is connected to.
    node: int = 0
    ready_at: float | None = None
    closed_at: float | None = None
    # True when the server ended the connection without being asked to.
    lost: bool = False
    received: dict[str, set[int]] = field(default_factory=dict)
    last_id: dict[str, int] = field(default_factory=dict)
    deliveries: int = 0


class Ledger:
    """Acknowledged messages, deliveries per connection, and every violation found."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        # Appended in ack order, which (one process, one clock) is acked_at order.
        self._acked: list[Acked] = []
        self._acked_times: list[float] = []
        self.violations: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.checked = 0
        self.deliveries = 0

    def violation(self, kind: str, detail: str) -> None:
        self.violations[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < EXAMPLES_PER_KIND:
            examples.append(detail)

    @property
    def acked(self) -> int:
        return len(self._acked)

    def record_ack(self, message: Acked, sender_epoch: Epoch) -> None:
        if self._acked_times and message.acked_at < self._acked_times[-1]:
            raise ValueError("acks must be recorded in time order")
        self._acked.append(message)
        self._acked_times.append(message.acked_at)
        # The server broadcasts to the channel (sender included) before it acknowledges, and
        # one connection's frames arrive in order: the sender must already have it.
        if message.id not in sender_epoch.received.get(message.channel, ()):
            self.violation(
                "own message not before ack",
                f"client {message.sender}: {message.channel} #{message.id}",
            )

    def receive(self, epoch: Epoch, channel: str, message_id: int) -> None:
        """A `message:channel` event arrived on this connection."""
        self.deliveries += 1
        epoch.deliveries += 1
        seen = epoch.received.setdefault(channel, set())
        where = f"client {epoch.client} connection {epoch.number}: {channel} #{message_id}"
        if message_id in seen:
            self.violation("duplicate", where)
            return
        last = epoch.last_id.get(channel)
        if last is not None and message_id <= last:
            self.violation("out of order", f"{where} after #{last}")
        seen.add(message_id)
        epoch.last_id[channel] = max(message_id, last or message_id)

    def close_epoch(self, epoch: Epoch, closed_at: float) -> None:
        """Check a connection the client closed itself: it was present for what it must have.

        A message must have reached it when the connection was ready before the send was
        issued and still open ``grace`` seconds after the ack. A connection the server
        dropped is reported as such instead (its last frames may be legitimately lost).
        """
        epoch.closed_at = closed_at
        if epoch.lost or epoch.ready_at is None:
            self._forget(epoch)
            return
        ready_at = epoch.ready_at
        start = bisect.bisect_right(self._acked_times, ready_at)
        end = bisect.bisect_left(self._acked_times, closed_at - self.grace)
        for message in self._acked[start:end]:
            if message.issued_at <= ready_at:
                continue
            self.checked += 1
            if message.id not in epoch.received.get(message.channel, ()):
                self.violation(
                    "missing",
                    f"client {epoch.client} connection {epoch.number} lacks "
                    f"{message.channel} #{message.id} from client {message.sender}",
                )
        self._forget(epoch)

    @staticmethod
    def _forget(epoch: Epoch) -> None:
        # Long runs have many connections; only the counts outlive the check.
        epoch.received = {}
        epoch.last_id = {}


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    rss_kb: int
    fds: int
    connections: int


@dataclass(frozen=True, slots=True)
class Tolerance:
    rss_fraction: float = 0.20
    rss_kb: int = 16 * 1024
    fds: int = 16


def resource_verdict(
    baseline: Sample, end: Sample, idle_fds: int | None, after_close: Sample | None, tol: Tolerance
) -> list[tuple[str, str]]:
    """Violations of "memory and descriptors stay flat" between warm-up and the end.

    Descriptors may follow the number of open connections (one socket each); anything
    beyond that plus the slack is a leak. Once every client has gone, the count must be
    back near where it was before any client came.
    """
    problems: list[tuple[str, str]] = []
    rss_limit = baseline.rss_kb * (1 + tol.rss_fraction) + tol.rss_kb
    if end.rss_kb > rss_limit:
        problems.append(
            (
                "rss growth",
                f"RSS {end.rss_kb} kB at the end > {rss_limit:.0f} kB allowed "
                f"(warm-up {baseline.rss_kb} kB + {tol.rss_fraction:.0%} + {tol.rss_kb} kB)",
            )
        )
    fd_limit = baseline.fds + max(0, end.connections - baseline.connections) + tol.fds
    if end.fds > fd_limit:
        problems.append(
            (
                "fd growth",
                f"{end.fds} fds at the end > {fd_limit} allowed (warm-up {baseline.fds} fds "
                f"for {baseline.connections} connections, end {end.connections} connections)",
            )
        )
    if idle_fds is not None and after_close is not None and after_close.fds > idle_fds + tol.fds:
        problems.append(
            (
                "fd leak",
                f"{after_close.fds} fds after every client left > {idle_fds} before any "
                f"came + {tol.fds}",
            )
        )
    return problems


def read_process(pid: int) -> tuple[int, int] | None:
    """(VmRSS in kB, open descriptors) of a process, or None when it is gone."""
    rss, fds = rss_kib(pid), open_fds(pid)
    return None if rss is None or fds is None else (rss, fds)


class Connection:
    """One client connection (``minidiscord.client``) and what the soak watches on it: the
    deliveries go to the ledger, the ``session`` event marks it ready."""

    def __init__(self, client: Client, epoch: Epoch, ledger: Ledger) -> None:
        self.client = client
        self.epoch = epoch
        self.ledger = ledger
        self.session: dict[str, Any] | None = None
        self.ready = trio.Event()
        self.server_disconnected = trio.Event()
        self.ended = trio.Event()
        client.on_any(self._route)
        client.on("disconnect", self._disconnected)

    def _route(self, event: str, *args: Any) -> None:
        try:
            if event == "message:channel":
                # With connection state recovery on (the default), an offset follows.
                channel, message, *_ = args
                self.ledger.receive(self.epoch, channel, message["id"])
            elif event == "session":
                self.session = args[0]
                self.epoch.ready_at = trio.current_time()
                self.ready.set()
        except (ValueError, LookupError, TypeError) as exc:
            self.ledger.violation("bad event", f"{event} {args!r}: {exc!r}"[:120])

    def _disconnected(self, reason: str) -> None:
        if reason == "io server disconnect":
            self.server_disconnected.set()
        self.ended.set()

    async def drop(self) -> None:
        """End the connection without the Socket.IO DISCONNECT: the WebSocket just closes."""
        # The client has no public way to lose its connection on purpose; closing its
        # Engine.IO session directly is that (over WebSocket, the WebSocket's close alone).
        engine = self.client._engine
        if engine is not None:
            await engine.close()


# ---------------------------------------------------------------------------------------------
# The clients.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    # The servers to soak: several are the nodes of one chat (cluster mode), and each
    # client moves from one to the next at every reconnect. Empty: start our own.
    urls: tuple[str, ...]
    # Their process ids, in the same order, to watch RSS and descriptors (may be empty).
    pids: tuple[int, ...]
    # Nodes to start when no --url is given (more than one share a Redis).
    nodes: int
    redis_url: str | None
    clients: int
    duration: float
    min_interval: float
    max_interval: float
    message_rate: float
    reconnect_share: float
    leave_share: float
    history_share: float
    grace: float
    ack_timeout: float
    connect_timeout: float
    ramp: float
    warmup: float
    sample_interval: float
    tolerance: Tolerance
    allow_refused: bool
    seed: int | None
    json: bool
    server_log: str | None


@dataclass
class Stats:
    sent: int = 0
    refused: int = 0
    unanswered: int = 0
    history: int = 0
    connections: int = 0
    restores: int = 0
    leaves: int = 0
    joins: int = 0
    lost: int = 0
    open: int = 0
    # Connections open now on each server.
    open_by_node: list[int] = field(default_factory=list)


@dataclass
class Watch:
    """One server process whose memory and descriptors the soak watches."""

    node: int
    url: str
    pid: int
    samples: list[Sample] = field(default_factory=list)
    # Descriptors before any client came, at the end, and once every client left.
    idle_fds: int | None = None
    end_sample: Sample | None = None
    after_close: Sample | None = None


class Soak:
    def __init__(
        self, options: Options, urls: Sequence[str], pids: Sequence[int], rng: random.Random
    ) -> None:
        self.options = options
        self.urls = [url.rstrip("/") for url in urls]
        self.rng = rng
        self.ledger = Ledger(options.grace)
        self.stats = Stats(open_by_node=[0] * len(self.urls))
        self.watches = [Watch(node, self.urls[node], pid) for node, pid in enumerate(pids)]
        self.started_at = 0.0
        self.stop_at = 0.0
        self.active_clients = options.clients
        self.all_idle = trio.Event()
        self.close_now = trio.Event()
        mean_interval = (options.min_interval + options.max_interval) / 2
        # Chat is what makes fan-out load; its share is set so that all clients together
        # send about --message-rate messages per second.
        chat = options.message_rate * mean_interval / max(1, options.clients)
        others = options.reconnect_share + options.leave_share + options.history_share
        self.chat_share = max(0.0, min(chat, 1.0 - others))

    def now(self) -> float:
        return trio.current_time()

    # -- one client ------------------------------------------------------------------------

    async def client(self, index: int) -> None:
        rng = random.Random(self.rng.getrandbits(64))
        await trio.sleep(rng.uniform(0, self.options.ramp))
        session_id: str | None = None
        user_id: str | None = None
        number = 0
        try:
            while self.now() < self.stop_at:
                number += 1
                # Each connection goes to the next server: a restore on another node.
                epoch = Epoch(index, number, node=(index + number) % len(self.urls))
                auth: dict[str, Any]
                if session_id is None:
                    auth = {"username": f"soak{index}-{number}"}
                else:
                    auth = {"sessionId": session_id}
                outcome = await self._run_epoch(epoch, auth, user_id, rng)
                if outcome is None:
                    # Could not connect: counted; try again a little later, as clients do.
                    await trio.sleep(rng.uniform(1, 3))
                    continue
                session_id, user_id = outcome
        finally:
            self.active_clients -= 1
            if self.active_clients == 0:
                self.all_idle.set()

    async def _run_epoch(
        self, epoch: Epoch, auth: dict[str, Any], user_id: str | None, rng: random.Random
    ) -> tuple[str | None, str | None] | None:
        """One connection's life; returns the (sessionId, userId) to reconnect with."""
        options = self.options
        # Reconnecting (and restoring the session) is what this script does itself.
        client = Client(
            auth=auth,
            transports=("websocket",),
            reconnection=False,
            timeout=options.connect_timeout,
            max_message_bytes=64 * 1024 * 1024,
        )
        conn = Connection(client, epoch, self.ledger)
        try:
            async with client.connect(self.urls[epoch.node]):
                self.stats.open += 1
                self.stats.open_by_node[epoch.node] += 1
                try:
                    return await self._live(conn, auth, user_id, rng)
                finally:
                    self.stats.open -= 1
                    self.stats.open_by_node[epoch.node] -= 1
        except ConnectError as exc:
            # No session at all (the server could not be reached), or the namespace refused.
            if client.error is not None or "sessionId" not in auth:
                self.ledger.violation("connect failed", f"client {epoch.client}: {exc!r}"[:200])
                return None
            self.ledger.violation("restore failed", f"client {epoch.client}: {exc!r}"[:200])
            self.ledger.close_epoch(epoch, self.now())
            # A refused restore starts over as a new user.
            return (None, None)

    async def _live(
        self,
        conn: Connection,
        auth: dict[str, Any],
        user_id: str | None,
        rng: random.Random,
    ) -> tuple[str | None, str | None] | None:
        options = self.options
        epoch = conn.epoch
        with trio.move_on_after(options.connect_timeout):
            await conn.ready.wait()
        session = conn.session
        if session is None:
            kind = "restore failed" if "sessionId" in auth else "connect failed"
            self.ledger.violation(kind, f"client {epoch.client}: no session at {self.now():.1f}")
            self.ledger.close_epoch(epoch, self.now())
            return (None, None) if "sessionId" in auth else None
        self.stats.connections += 1
        if "sessionId" in auth:
            self.stats.restores += 1
            if session.get("userId") != user_id:
                self.ledger.violation(
                    "restore failed",
                    f"client {epoch.client}: user {session.get('userId')} instead of {user_id}",
                )
        else:
            self.stats.joins += 1
        identity = (str(session["sessionId"]), str(session["userId"]))

        while self.now() < self.stop_at:
            with trio.move_on_after(rng.uniform(options.min_interval, options.max_interval)):
                await conn.ended.wait()
            if conn.ended.is_set() or conn.server_disconnected.is_set():
                return self._lost(conn, identity)
            if self.now() >= self.stop_at:
                break
            roll = rng.random()
            if roll < self.chat_share:
                if not await self._chat(conn, rng):
                    return self._lost(conn, identity)
                continue
            roll -= self.chat_share
            if roll < options.history_share:
                if not await self._history(conn, rng):
                    return self._lost(conn, identity)
                continue
            roll -= options.history_share
            if roll < options.reconnect_share:
                await self._close(conn, rng)
                return identity
            roll -= options.reconnect_share
            if roll < options.leave_share:
                await self._leave(conn)
                return (None, None)
            # Otherwise the user just reads for a while.
        await self._final(conn)
        return identity

    def _lost(self, conn: Connection, identity: tuple[str, str]) -> tuple[str, str]:
        epoch = conn.epoch
        epoch.lost = True
        self.stats.lost += 1
        reason = "server disconnect" if conn.server_disconnected.is_set() else "closed"
        self.ledger.violation(
            "unexpected disconnect", f"client {epoch.client} connection {epoch.number}: {reason}"
        )
        self.ledger.close_epoch(epoch, self.now())
        return identity

    async def _chat(self, conn: Connection, rng: random.Random) -> bool:
        channel = rng.choice(CHANNELS)
        text = f"soak {conn.epoch.client}-{conn.epoch.number}-{secrets.token_hex(4)}"
        issued_at = self.now()
        self.stats.sent += 1
        try:
            answer = await conn.client.call(
                "message:channel:send", channel, text, timeout=self.options.ack_timeout
            )
        except Disconnected:
            self.stats.unanswered += 1
            return False
        except CallTimeout:
            self.stats.unanswered += 1
            self.ledger.violation(
                "ack timeout", f"client {conn.epoch.client}: no ack for {channel} within timeout"
            )
            return True
        reply = answer[0] if answer else None
        if isinstance(reply, dict) and reply.get("ok") is True and type(reply.get("id")) is int:
            acked = Acked(channel, reply["id"], issued_at, self.now(), conn.epoch.client)
            self.ledger.record_ack(acked, conn.epoch)
        else:
            self.stats.refused += 1
            if not self.options.allow_refused:
                self.ledger.violation("refused", f"client {conn.epoch.client}: {answer!r}"[:200])
        return True

    async def _history(self, conn: Connection, rng: random.Random) -> bool:
        channel = rng.choice(CHANNELS)
        self.stats.history += 1
        try:
            answer = await conn.client.call(
                "channel:history", channel, {"limit": 20}, timeout=self.options.ack_timeout
            )
        except Disconnected:
            return False
        except CallTimeout:
            self.ledger.violation("ack timeout", f"client {conn.epoch.client}: channel:history")
            return True
        reply = answer[0] if answer else None
        messages = reply.get("messages") if isinstance(reply, dict) else None
        if not isinstance(messages, list):
            self.ledger.violation("bad history", f"{answer!r}"[:200])
            return True
        ids = [m["id"] for m in messages if isinstance(m, dict) and type(m.get("id")) is int]
        if (
            len(ids) != len(messages)
            or ids != sorted(ids)
            or len(set(ids)) != len(ids)
            or len(ids) > 20
        ):
            self.ledger.violation("bad history", f"{channel}: ids {ids[:30]}")
        return True

    async def _close(self, conn: Connection, rng: random.Random) -> None:
        """Disconnect: half the time saying so at the Socket.IO level first, as socket.close()."""
        self.ledger.close_epoch(conn.epoch, self.now())
        if rng.random() < 0.5:
            await conn.client.disconnect()
        else:
            await conn.drop()

    async def _leave(self, conn: Connection) -> None:
        # The user is gone from the moment the server handles the leave.
        closed_at = self.now()
        self.stats.leaves += 1
        # The answer is the ack or the namespace disconnect that ends the socket, whichever
        # comes first (the server may disconnect before it could acknowledge).
        with contextlib.suppress(Disconnected):
            conn.client.emit("user:leave", callback=lambda *_: None)
        with trio.move_on_after(self.options.ack_timeout):
            await conn.server_disconnected.wait()
        if not conn.server_disconnected.is_set():
            self.ledger.violation(
                "leave failed", f"client {conn.epoch.client}: no namespace disconnect"
            )
        self.ledger.close_epoch(conn.epoch, closed_at)

    async def _final(self, conn: Connection) -> None:
        """The run is over: stay connected until every ack is in plus the grace, then check."""
        with trio.move_on_after(self.options.ack_timeout + self.options.grace + 30):
            await self.close_now.wait()
        if conn.ended.is_set():
            conn.epoch.lost = True
            self.ledger.violation("unexpected disconnect", f"client {conn.epoch.client} at end")
        self.ledger.close_epoch(conn.epoch, self.now())

    # -- the run ---------------------------------------------------------------------------

    def sample(self, watch: Watch) -> Sample | None:
        reading = read_process(watch.pid)
        if reading is None:
            return None
        connections = self.stats.open_by_node[watch.node]
        return Sample(self.now() - self.started_at, reading[0], reading[1], connections)

    async def sampler(self, progress: bool) -> None:
        if not self.watches:
            return
        last_report = -1e9
        watching = list(self.watches)
        while watching:
            for watch in list(watching):
                sample = self.sample(watch)
                if sample is None:
                    self.ledger.violation("server died", f"process {watch.pid} is gone")
                    watching.remove(watch)
                    continue
                watch.samples.append(sample)
                if progress and sample.at - last_report >= 30:
                    print(
                        f"[{sample.at:6.0f} s] {watch.url}: rss {sample.rss_kb / 1024:.1f} MB, "
                        f"fds {sample.fds}, connections {sample.connections}, acked "
                        f"{self.ledger.acked}, violations {sum(self.ledger.violations.values())}",
                        file=sys.stderr,
                        flush=True,
                    )
            if progress and self.now() - self.started_at - last_report >= 30:
                last_report = self.now() - self.started_at
            await trio.sleep(self.options.sample_interval)

    async def conclude(self) -> None:
        """After the last action: let every ack come in, wait the grace, sample, close."""
        await trio.sleep_until(self.stop_at)
        with trio.move_on_after(self.options.ack_timeout + 5):
            await self.all_idle_or_final()
        await trio.sleep(self.options.grace)
        for watch in self.watches:
            watch.end_sample = self.sample(watch)
        self.close_now.set()

    async def all_idle_or_final(self) -> None:
        # Clients still in an action finish it within the ack timeout; the rest wait in _final.
        while self.active_clients > 0 and self._busy():  # noqa: ASYNC110 - no event to await
            await trio.sleep(0.2)

    def _busy(self) -> bool:
        return (
            self.stats.open > 0
            and self.ledger.acked + self.stats.refused + (self.stats.unanswered) < self.stats.sent
        )


async def fds_settled(pid: int, idle_fds: int, slack: int, timeout: float) -> Sample | None:
    """The server once its descriptors are back near ``idle_fds`` (or the timeout passed).

    Closed connections take the server a moment to notice; the wait goes on a little past
    the allowed slack so the figure reported is the settled one.
    """
    reading = read_process(pid)
    for target, limit in ((idle_fds + slack, timeout), (idle_fds + 2, 3.0)):
        with trio.move_on_after(limit):
            while reading is not None and reading[1] > target:
                await trio.sleep(0.5)
                reading = read_process(pid)
    return None if reading is None else Sample(0.0, reading[0], reading[1], 0)


# ---------------------------------------------------------------------------------------------
# The server under test (started here when no --url is given).
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_servers(
    workdir: str, log_paths: Sequence[str], redis_url: str | None
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """One server per log path, each in a subprocess with every limit off: one on a fresh
    SQLite database, or several nodes of one chat on ``redis_url`` (a private redis-server
    when it is None)."""
    with contextlib.ExitStack() as stack:
        store: list[str]
        if len(log_paths) == 1 and redis_url is None:
            store = ["--store", "sqlite", "--db", os.path.join(workdir, "soak.db")]
        else:
            if redis_url is None:
                redis_url, _ = stack.enter_context(running_redis(Path(workdir) / "redis"))
            store = ["--redis-url", redis_url]
        servers = []
        for log_path in log_paths:
            port = free_port()
            command = server_args(port, *store, "--log-format", "json", "--log-level", "warning")
            log = stack.enter_context(open(log_path, "wb"))
            try:
                process = stack.enter_context(
                    running(command, port, timeout=30, stdout=log, stderr=subprocess.STDOUT)
                )
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; see {log_path}") from None
            servers.append((f"http://127.0.0.1:{port}", process))
        yield servers


def log_errors(log_path: str) -> list[str]:
    """Log records at ERROR or above (the server logs one JSON object per line)."""
    errors: list[str] = []
    with open(log_path, "rb") as log:
        for line in log:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                # Not ours (a crash before logging was set up): suspicious in itself.
                if line.strip():
                    errors.append(line.decode(errors="replace").strip()[:300])
                continue
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                errors.append(f"{record.get('logger')}: {record.get('message')}"[:300])
    return errors


# ---------------------------------------------------------------------------------------------
# Running and reporting.
# ---------------------------------------------------------------------------------------------


async def run_soak(options: Options, urls: Sequence[str], pids: Sequence[int]) -> dict[str, Any]:
    rng = random.Random(options.seed)
    soak = Soak(options, urls, pids, rng)
    for watch in soak.watches:
        reading = read_process(watch.pid)
        watch.idle_fds = reading[1] if reading is not None else None
    soak.started_at = trio.current_time()
    soak.stop_at = soak.started_at + options.duration
    async with trio.open_nursery() as outer:
        outer.start_soon(soak.sampler, not options.json)
        async with trio.open_nursery() as clients:
            clients.start_soon(soak.conclude)
            for index in range(options.clients):
                clients.start_soon(soak.client, index)
        outer.cancel_scope.cancel()
    for watch in soak.watches:
        if watch.idle_fds is not None:
            watch.after_close = await fds_settled(
                watch.pid, watch.idle_fds, options.tolerance.fds, 15
            )
    return summarize(soak)


def baseline_of(samples: Sequence[Sample], warmup: float) -> Sample | None:
    return next((sample for sample in samples if sample.at >= warmup), None)


def _figures(sample: Sample) -> dict[str, Any]:
    return {
        "at": round(sample.at, 1),
        "rss_kb": sample.rss_kb,
        "fds": sample.fds,
        "connections": sample.connections,
    }


def watch_summary(watch: Watch, options: Options, ledger: Ledger) -> dict[str, Any]:
    """One server's resource figures, its violations recorded in ``ledger``."""
    baseline = baseline_of(watch.samples, options.warmup)
    resources: dict[str, Any] = {"url": watch.url, "pid": watch.pid, "checked": False}
    if baseline is not None and watch.end_sample is not None:
        for kind, detail in resource_verdict(
            baseline, watch.end_sample, watch.idle_fds, watch.after_close, options.tolerance
        ):
            ledger.violation(kind, f"{watch.url}: {detail}")
        after_close = watch.after_close
        resources.update(
            checked=True,
            warmup_s=options.warmup,
            baseline=_figures(baseline),
            end=_figures(watch.end_sample),
            idle_fds=watch.idle_fds,
            fds_after_close=after_close.fds if after_close else None,
            rss_after_close_kb=after_close.rss_kb if after_close else None,
        )
    else:
        ledger.violation(
            "no resource figures", f"{watch.url}: the run was too short to sample after warm-up"
        )
    resources["samples"] = [[round(s.at, 1), s.rss_kb, s.fds, s.connections] for s in watch.samples]
    return resources


def summarize(soak: Soak) -> dict[str, Any]:
    options = soak.options
    ledger = soak.ledger
    resources = [watch_summary(watch, options, ledger) for watch in soak.watches]
    stats = soak.stats
    return {
        "ok": not ledger.violations,
        "urls": soak.urls,
        "clients": options.clients,
        "duration_s": options.duration,
        "grace_s": options.grace,
        "chat_share": round(soak.chat_share, 4),
        "messages": {
            "sent": stats.sent,
            "acked": ledger.acked,
            "refused": stats.refused,
            "unanswered": stats.unanswered,
            "deliveries": ledger.deliveries,
            "checked_deliveries": ledger.checked,
        },
        "connections": {
            "opened": stats.connections,
            "joins": stats.joins,
            "restores": stats.restores,
            "leaves": stats.leaves,
            "lost": stats.lost,
        },
        "history_requests": stats.history,
        "violations": dict(ledger.violations),
        "violation_examples": ledger.examples,
        "resources": resources,
    }


def format_summary(summary: dict[str, Any]) -> str:
    messages = summary["messages"]
    conns = summary["connections"]
    lines = [
        f"soak against {', '.join(summary['urls'])}: {summary['clients']} clients for "
        f"{summary['duration_s']:g} s",
        f"messages: sent {messages['sent']}, acked {messages['acked']}, refused "
        f"{messages['refused']}, unanswered {messages['unanswered']}; deliveries "
        f"{messages['deliveries']}, of which checked for presence {messages['checked_deliveries']}",
        f"connections: {conns['opened']} ({conns['joins']} joins, {conns['restores']} restores, "
        f"{conns['leaves']} leaves, {conns['lost']} lost); history requests "
        f"{summary['history_requests']}",
    ]
    for resources in summary["resources"]:
        lines.extend(_resource_lines(resources))
    if not summary["resources"]:
        lines.append("server memory and descriptors: not checked (no --pid)")
    if summary["violations"]:
        lines.append("VIOLATIONS:")
        for kind, count in sorted(summary["violations"].items()):
            lines.append(f"  {kind}: {count}")
            for example in summary["violation_examples"].get(kind, []):
                lines.append(f"    e.g. {example}")
    else:
        lines.append("no violations")
    return "\n".join(lines)


def _resource_lines(resources: dict[str, Any]) -> list[str]:
    lines = []
    if resources.get("checked"):
        base, end = resources["baseline"], resources["end"]
        lines.append(
            f"server {resources['url']} (pid {resources['pid']}): RSS "
            f"{base['rss_kb'] / 1024:.1f} MB after warm-up ({base['at']} s) -> "
            f"{end['rss_kb'] / 1024:.1f} MB at the end; fds {base['fds']} -> {end['fds']} "
            f"(connections {base['connections']} -> {end['connections']}); fds before "
            f"clients {resources['idle_fds']}, after they left {resources['fds_after_close']}"
        )
        samples = resources["samples"]
        step = max(1, len(samples) // 20)
        lines.append("     t (s)   RSS (MB)   fds   connections")
        for at, rss_kb, fds, connections in samples[::step] + (
            samples[-1:] if (len(samples) - 1) % step else []
        ):
            lines.append(f"  {at:8.1f} {rss_kb / 1024:10.1f} {fds:5d} {connections:13d}")
    else:
        lines.append(f"server {resources['url']}: too short to check memory and descriptors")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--url",
        action="append",
        help="a server to soak; repeat it for the nodes of one chat, which the clients move "
        "between at every reconnect (default: start our own, limits off)",
    )
    parser.add_argument(
        "--pid",
        type=int,
        action="append",
        help="the process id of each --url, in order, to watch RSS and fds",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="without --url: how many servers to start (one: on SQLite; more: nodes of one "
        "chat on Redis)",
    )
    parser.add_argument(
        "--redis-url",
        help="with --nodes: the Redis they share (default: start a private redis-server)",
    )
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of actions")
    # People act every few seconds; 1:5 with 500 clients saturates one hypercorn core (each
    # join, leave and disconnect is a presence broadcast to everyone).
    parser.add_argument("--interval", default="5:15", help="MIN:MAX seconds between actions")
    parser.add_argument(
        "--message-rate",
        type=float,
        default=10.0,
        help="chat messages per second, all clients together (sets the share of chat actions)",
    )
    parser.add_argument("--reconnect-share", type=float, default=0.05)
    parser.add_argument("--leave-share", type=float, default=0.015)
    parser.add_argument("--history-share", type=float, default=0.03)
    parser.add_argument("--grace", type=float, default=10.0, help="delivery grace after an ack")
    parser.add_argument("--ack-timeout", type=float, default=15.0)
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, help="seconds over which clients first connect")
    parser.add_argument("--warmup", type=float, help="seconds before the resource baseline")
    parser.add_argument("--sample-interval", type=float, default=3.0)
    parser.add_argument("--rss-tolerance", type=float, default=0.20, help="fraction of RSS")
    parser.add_argument("--rss-slack-mb", type=float, default=16.0)
    parser.add_argument("--fd-slack", type=int, default=16)
    parser.add_argument(
        "--allow-refused", action="store_true", help="acks with ok: false are no violation"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--server-log", help="where the started server logs (default: temp)")
    args = parser.parse_args(argv)
    low, _, high = args.interval.partition(":")
    min_interval, max_interval = float(low), float(high or low)
    if not 0 < min_interval <= max_interval:
        parser.error("--interval: give MIN:MAX with 0 < MIN <= MAX")
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")
    urls = tuple(args.url or ())
    pids = tuple(args.pid or ())
    if pids and not urls:
        parser.error("--pid goes with --url (a server this script starts is watched anyway)")
    if len(pids) > len(urls):
        parser.error("give at most one --pid per --url")
    if args.nodes < 1 or (urls and args.nodes != 1):
        parser.error("--nodes: a positive number of servers to start, without --url")
    if args.redis_url is not None and urls:
        parser.error("--redis-url goes with --nodes (servers this script starts)")
    ramp = args.ramp if args.ramp is not None else min(30.0, args.duration / 5)
    warmup = args.warmup if args.warmup is not None else ramp + min(30.0, args.duration / 10)
    return Options(
        urls=urls,
        pids=pids,
        nodes=args.nodes,
        redis_url=args.redis_url,
        clients=args.clients,
        duration=args.duration,
        min_interval=min_interval,
        max_interval=max_interval,
        message_rate=args.message_rate,
        reconnect_share=args.reconnect_share,
        leave_share=args.leave_share,
        history_share=args.history_share,
        grace=args.grace,
        ack_timeout=args.ack_timeout,
        connect_timeout=args.connect_timeout,
        ramp=ramp,
        warmup=min(warmup, args.duration),
        sample_interval=args.sample_interval,
        tolerance=Tolerance(args.rss_tolerance, int(args.rss_slack_mb * 1024), args.fd_slack),
        allow_refused=args.allow_refused,
        seed=args.seed,
        json=args.json,
        server_log=args.server_log,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    raise_fd_limit()
    if options.urls:
        summary = trio.run(run_soak, options, options.urls, options.pids)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
            log_path = options.server_log or os.path.join(workdir, "server.log")
            log_paths = [log_path] + [f"{log_path}.{node}" for node in range(2, options.nodes + 1)]
            with own_servers(workdir, log_paths, options.redis_url) as servers:
                urls = [url for url, _ in servers]
                summary = trio.run(run_soak, options, urls, [p.pid for _, p in servers])
            errors = [error for path in log_paths for error in log_errors(path)]
            for _, process in servers:
                if process.returncode not in (0, -signal.SIGTERM):
                    errors.append(f"a server exited with status {process.returncode}")
            summary["server_log_errors"] = len(errors)
            if errors:
                summary["ok"] = False
                summary["violations"]["server log error"] = len(errors)
                summary["violation_examples"]["server log error"] = errors[:EXAMPLES_PER_KIND]
    if options.json:
        print(orjson.dumps(summary).decode())
    else:
        print(format_summary(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
