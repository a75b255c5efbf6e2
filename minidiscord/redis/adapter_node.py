"""One server of the Redis adapter: its connection to Redis, shared by the adapters of all
its namespaces, and the three tasks that carry their messages.

Keys (``P`` the adapter's prefix; this module is their one writer):

- ``P:stream``, a STREAM every server appends its messages to and reads in order from where
  it last was (``XREAD COUNT ... BLOCK ...``), so a server that lost Redis for a while
  resumes where it stopped: nothing in between is lost, as long as the stream still holds
  it (``XADD MAXLEN ~ max_len``). An entry's id is a broadcast's recovery offset.
- ``P:node:{id}``, a STREAM per server for the answers to its requests (client counts and
  acks of a broadcast with acks, sockets fetched, server-side answers). Answers go only to
  the server that asked, rather than through ``P:stream`` to every server: fetched sockets
  carry handshakes and data that the others would read and throw away. The same ``XREAD``
  reads both streams, so this costs no round trip; the stream expires when its server is
  gone.
- ``P:nodes``, a ZSET: server id -> when its heartbeat expires (ms, Redis's clock, from
  ``TIME`` inside the script). The live servers are those not expired: ``server_count``.
- ``P:session:{pid}``: a persisted session (connection state recovery) as JSON, expiring
  with the recovery window; taken with ``GETDEL``, so it is given back at most once.

The writer task drains a bounded queue: ``post`` (what a broadcast calls) never waits;
when the queue is full (Redis slow or gone for long) a message is dropped, counted in
``minidiscord_adapter_messages_lost`` and logged, and local delivery goes on. The writer
sends what is pending as one pipeline. While Redis is unavailable (a call failed or timed
out), batches are dropped at once rather than each waiting for the timeout, until the
reader or the heartbeat reaches Redis again.
"""

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from coredis.exceptions import RedisError
from coredis.tokens import PureToken
from prometheus_client import CollectorRegistry, Counter, Gauge

from .adapter_codec import Kind, MalformedMessage, Message, decode, encode, sender, text
from .adapter_requests import Requests
from .connection import (
    DEFAULT_CALL_TIMEOUT,
    RedisClient,
    RedisUnavailable,
    bounded,
    open_redis,
)
from .target import RedisTarget

if TYPE_CHECKING:
    from .adapter import RedisAdapter

logger = logging.getLogger("minidiscord.redis.adapter")

# How many pending writes go in one pipeline.
WRITE_BATCH = 500
# Entries a server's own answer stream keeps; answers are read within moments.
ANSWERS_MAX_LEN = 1_000
# Seconds between two log lines about dropped messages.
LOSS_LOG_INTERVAL = 5.0

STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")

# KEYS[1] the live servers; ARGV: this server's id, its heartbeat's lifetime (ms). Returns
# how many servers are live, this one included.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS[1] the live servers; ARGV[1] this server's id. The live servers other than this one.
OTHERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZCOUNT', KEYS[1], now, '+inf')
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if mine and tonumber(mine) >= now then
  live = live - 1
end
return live
"""


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream id as numbers, to compare two."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """The Redis adapter's options (``RedisAdapter.factory`` takes them as keywords).

    ``max_len``: entries ``P:stream`` keeps (about; connection state recovery can give
    back only what is still there). ``read_count`` and ``block``: entries one ``XREAD``
    takes at most, and seconds it waits for one. ``queue_size``: messages waiting for the
    writer before new ones are dropped. ``heartbeat_interval`` and ``heartbeat_timeout``:
    seconds between a server's heartbeats, and after its last one until it no longer
    counts. ``requests_timeout``: seconds ``fetch_sockets`` and a server-side emit with
    acks (without a timeout of its own) wait for the other servers. ``call_timeout``:
    seconds one Redis call may take before Redis counts as unavailable.
    """

    max_len: int = 10_000
    read_count: int = 1_000
    block: float = 1.0
    queue_size: int = 10_000
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 15.0
    requests_timeout: float = 5.0
    call_timeout: float = DEFAULT_CALL_TIMEOUT

    def __post_init__(self) -> None:
        if min(self.max_len, self.read_count, self.queue_size) < 1:
            raise ValueError("max_len, read_count and queue_size are at least 1")
        if min(self.block, self.heartbeat_interval, self.requests_timeout) <= 0:
            raise ValueError("block, heartbeat_interval and requests_timeout are positive")
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat_timeout is longer than heartbeat_interval")


class Keys:
    """The adapter's Redis keys under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream = f"{prefix}:stream".encode()
        self.nodes = f"{prefix}:nodes".encode()

    def answers(self, node: str) -> bytes:
        return f"{self.prefix}:node:{node}".encode()

    def session(self, pid: str) -> bytes:
        return f"{self.prefix}:session:{pid}".encode()


class AdapterMetrics:
    """The adapter's counters, in the server's metrics registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.published = Counter(
            "minidiscord_adapter_messages_published",
            "messages this server sent to the other servers through Redis",
            registry=registry,
        )
        self.received = Counter(
            "minidiscord_adapter_messages_received",
            "messages from the other servers applied here",
            registry=registry,
        )
        self.lost = Counter(
            "minidiscord_adapter_messages_lost",
            "messages for the other servers dropped (queue full, or Redis unavailable)",
            ["reason"],
            registry=registry,
        )
        self.servers = Gauge(
            "minidiscord_adapter_servers",
            "live servers sharing the adapter's Redis prefix (at the last heartbeat)",
            registry=registry,
        )


@dataclass(slots=True)
class _Post:
    stream: bytes
    fields: dict[bytes, bytes]
    done: Callable[[str | None], None] | None


@dataclass(slots=True)
class _KeepSession:
    key: bytes
    value: bytes
    ttl_ms: int


_Write = _Post | _KeepSession


class AdapterNode:
    """This server in the cluster: its id, its Redis client and tasks, and the adapters of
    its namespaces by name (one node per ``RedisAdapter.factory``, so per server)."""

    def __init__(self, target: RedisTarget, prefix: str, options: AdapterOptions) -> None:
        self.target = target
        self.options = options
        self.keys = Keys(prefix)
        self.uid = secrets.token_hex(8)
        self._uid_bytes = self.uid.encode()
        self.adapters: dict[str, RedisAdapter] = {}
        self.requests = Requests()
        self.metrics: AdapterMetrics | None = None
        self.client: RedisClient | None = None
        # Whether the last call to Redis worked (the writer drops at once while not; it
        # tries first).
        self.available = True
        # Live servers at the last heartbeat, this one included.
        self.servers = 1
        # Every other server's entry of P:stream up to here has been applied here; and
        # every one of this server's own recoverable broadcasts up to here delivered here.
        self.read_position = "0-0"
        self.own_position = "0-0"
        self.reading = False
        self._serving = False
        self._idle = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._outbox_in, self._outbox = trio.open_memory_channel[_Write](options.queue_size)
        self._lost_since_log = 0
        self._loss_logged_at = -LOSS_LOG_INTERVAL

    def __repr__(self) -> str:
        return f"<AdapterNode {self.uid} on {self.target} prefix {self.keys.prefix!r}>"

    # The adapters of this server's namespaces -----------------------------------------

    def attach(self, adapter: "RedisAdapter") -> None:
        namespace = adapter.namespace
        current = self.adapters.get(namespace.name)
        if current is not None and current.namespace is not namespace:
            raise ValueError(
                f"namespace {namespace.name} has two adapters from one RedisAdapter.factory: "
                "each server needs a factory of its own"
            )
        registry = namespace.metrics.registry
        if self.metrics is None:
            self.metrics = AdapterMetrics(registry)
        elif self.metrics.registry is not registry:
            raise ValueError("each server needs a RedisAdapter.factory of its own")
        self.adapters[namespace.name] = adapter

    def detach(self, adapter: "RedisAdapter") -> None:
        if self.adapters.get(adapter.namespace.name) is adapter:
            del self.adapters[adapter.namespace.name]
        if not self.adapters:
            self._idle.set()

    async def run_for(
        self, adapter: "RedisAdapter", closed: trio.Event, task_status: trio.TaskStatus[None]
    ) -> None:
        """An adapter's ``run``: the first to come runs the node's tasks until every adapter
        has closed; the others wait for their own close."""
        if closed.is_set() or self._serving:
            task_status.started()
            await closed.wait()
            return
        self._serving = True
        try:
            await self._serve(task_status)
        finally:
            self._serving = False

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        self._idle = trio.Event()
        if not self.adapters:
            self._idle.set()
        async with open_redis(self.target) as client, trio.open_nursery() as nursery:
            self.client = client
            self._nursery = nursery
            written = trio.Event()
            stop_beating, beats_stopped = trio.Event(), trio.Event()
            nursery.start_soon(self._read, client)
            nursery.start_soon(self._beat, client, stop_beating, beats_stopped)
            nursery.start_soon(self._write, client, written)
            logger.info(
                "adapter server %s on %s (prefix %r)", self.uid, self.target, self.keys.prefix
            )
            task_status.started()
            await self._idle.wait()
            # Closing: what is queued (sessions persisted on the way out above all) is
            # written, within a bound; then this server stops counting at once.
            self._outbox_in.close()
            with trio.move_on_after(self.options.call_timeout * 2):
                await written.wait()
            # No heartbeat may be in flight when this server leaves: it goes on another of
            # the pool's connections, so Redis could run it after the ZREM and count this
            # server again until it expired (seen in CI).
            stop_beating.set()
            with trio.move_on_after(self.options.call_timeout * 2):
                await beats_stopped.wait()
            try:
                with bounded("leaving the adapter's servers", self.options.call_timeout):
                    await client.zrem(self.keys.nodes, [self.uid])
            except RedisUnavailable as exc:
                logger.warning("adapter server %s could not say it left: %s", self.uid, exc)
            self._nursery = None
            self.client = None
            nursery.cancel_scope.cancel()
        # Ready for another run (a server's lifespan started again).
        self._outbox_in, self._outbox = trio.open_memory_channel[_Write](self.options.queue_size)
        self.reading = False

    def spawn(self, task: Callable[..., Any], *args: Any) -> None:
        """Run ``task`` beside the node's own (dropped when the node is not running)."""
        if self._nursery is not None:
            self._nursery.start_soon(task, *args)

    # Writing ----------------------------------------------------------------------------

    def post(
        self,
        message: Message,
        to: str | None = None,
        done: Callable[[str | None], None] | None = None,
    ) -> bool:
        """Queue ``message`` for every server (or for server ``to`` alone); never waits.
        ``done(entry id)`` is called once Redis took it (``done(None)`` when it did not).
        False when it was dropped at once (the queue is full): ``done`` is not called."""
        stream = self.keys.stream if to is None else self.keys.answers(to)
        return self._queue(_Post(stream, encode(message), done))

    def keep_session(self, pid: str, value: bytes, ttl_ms: int) -> bool:
        """Queue the write of a persisted session (see :meth:`post`)."""
        return self._queue(_KeepSession(self.keys.session(pid), value, ttl_ms))

    def _queue(self, write: _Write) -> bool:
        try:
            self._outbox_in.send_nowait(write)
        except trio.WouldBlock:
            self._lose(1, "queue full")
            return False
        except trio.ClosedResourceError:
            self._lose(1, "closed")
            return False
        return True

    def _lose(self, count: int, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.lost.labels(reason).inc(count)
        self._lost_since_log += count
        now = trio.current_time()
        # Every message while Redis is down would be a line of its own: one per interval.
        if now - self._loss_logged_at >= LOSS_LOG_INTERVAL:
            logger.warning(
                "adapter server %s dropped %d message(s) for the other servers (%s)",
                self.uid,
                self._lost_since_log,
                reason,
            )
            self._lost_since_log = 0
            self._loss_logged_at = now

    async def _write(self, client: RedisClient, written: trio.Event) -> None:
        try:
            async for first in self._outbox:
                batch = [first]
                while len(batch) < WRITE_BATCH:
                    try:
                        batch.append(self._outbox.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                ids = await self._flush(client, batch)
                for write, entry_id in zip(batch, ids, strict=True):
                    if isinstance(write, _Post) and write.done is not None:
                        write.done(entry_id)
        finally:
            written.set()

    async def _flush(self, client: RedisClient, batch: list[_Write]) -> list[str | None]:
        nothing: list[str | None] = [None] * len(batch)
        if not self.available:
            self._lose(len(batch), "redis unavailable")
            return nothing
        options = self.options
        answers_ttl = int(max(options.requests_timeout, options.heartbeat_timeout) * 4000)
        try:
            with bounded(f"sending {len(batch)} adapter message(s)", options.call_timeout):
                async with client.pipeline(transaction=False) as pipe:
                    replies: list[Any] = []
                    for write in batch:
                        if isinstance(write, _KeepSession):
                            replies.append(pipe.set(write.key, write.value, px=write.ttl_ms))
                            continue
                        shared = write.stream == self.keys.stream
                        replies.append(
                            pipe.xadd(
                                write.stream,
                                write.fields,
                                trim_strategy=PureToken.MAXLEN,
                                threshold=options.max_len if shared else ANSWERS_MAX_LEN,
                                trim_operator=PureToken.APPROXIMATELY,
                            )
                        )
                        if not shared:
                            pipe.pexpire(write.stream, answers_ttl)
                ids = [await reply for reply in replies]
        except RedisUnavailable as exc:
            self._unavailable(exc)
            self._lose(len(batch), "redis unavailable")
            return nothing
        except RedisError:
            logger.exception("adapter server %s: Redis refused a batch", self.uid)
            self._lose(len(batch), "refused")
            return nothing
        if self.metrics is not None:
            self.metrics.published.inc(len(batch))
        return [entry.decode() if isinstance(entry, bytes) else None for entry in ids]

    # Availability -----------------------------------------------------------------------

    def _unavailable(self, exc: RedisUnavailable) -> None:
        if self.available:
            logger.warning("adapter server %s lost Redis: %s", self.uid, exc)
        self.available = False

    def _reached(self) -> None:
        if not self.available:
            logger.info(
                "adapter server %s reaches Redis at %s again (%d more message(s) dropped "
                "meanwhile)",
                self.uid,
                self.target,
                self._lost_since_log,
            )
            self._lost_since_log = 0
        self.available = True

    # Reading ----------------------------------------------------------------------------

    async def _read(self, client: RedisClient) -> None:
        options = self.options
        keys = self.keys
        mine = keys.answers(self.uid)
        positions: dict[bytes, str] | None = None
        pause = 0.1
        while True:
            try:
                if positions is None:
                    with bounded("finding the end of the adapter stream", options.call_timeout):
                        last = await client.xrevrange(keys.stream, count=1)
                    # What was sent before this server started is not for it.
                    start = text(last[0].identifier) if last else "0-0"
                    positions = {keys.stream: start, mine: "0-0"}
                    self.read_position = start
                    self.reading = True
                with bounded("reading the adapter streams", options.block + options.call_timeout):
                    got = await client.xread(
                        positions, count=options.read_count, block=int(options.block * 1000)
                    )
            except RedisUnavailable as exc:
                self._unavailable(exc)
                await trio.sleep(pause)
                pause = min(pause * 2, options.block)
                continue
            pause = 0.1
            self._reached()
            for stream, entries in (got or {}).items():
                answers = text(stream) == mine.decode()
                for entry in entries:
                    entry_id = text(entry.identifier)
                    positions[keys.stream if not answers else mine] = entry_id
                    self._receive(answers, entry_id, entry.field_values)

    def _receive(self, answer: bool, entry_id: str, fields: Mapping[Any, Any]) -> None:
        if not answer and sender(fields) == self._uid_bytes:
            # Its own: delivered here when it was sent.
            self.read_position = entry_id
            return
        try:
            message = decode(fields)
        except MalformedMessage as exc:
            logger.warning("adapter server %s skipped entry %s: %s", self.uid, entry_id, exc)
            return
        try:
            if answer:
                self.requests.answer(message)
            elif message.node != self.uid:
                self._apply(message, entry_id)
        except Exception:
            # One message this server cannot apply must not stop it reading the rest.
            logger.exception("adapter server %s could not apply entry %s", self.uid, entry_id)
        finally:
            if not answer:
                self.read_position = entry_id

    def _apply(self, message: Message, entry_id: str) -> None:
        if self.metrics is not None:
            self.metrics.received.inc()
        adapter = self.adapters.get(message.namespace)
        if adapter is not None:
            adapter.apply(message, entry_id)
            return
        # No such namespace here: it has no sockets and no handlers, and says so to a
        # request rather than leave the asking server waiting for its timeout.
        request = message.body.get("request")
        if not isinstance(request, str):
            return
        answers: dict[Kind, tuple[Kind, dict[str, Any]]] = {
            Kind.BROADCAST_WITH_ACK: (Kind.CLIENT_COUNT, {"count": 0}),
            Kind.FETCH_SOCKETS: (Kind.SOCKETS, {"sockets": []}),
            Kind.SERVER_SIDE_EMIT: (Kind.SERVER_SIDE_ANSWER, {"absent": True}),
        }
        answer = answers.get(message.kind)
        if answer is not None:
            kind, body = answer
            self.answer(message, kind, body)

    def answer(self, request: Message, kind: Kind, body: dict[str, Any]) -> None:
        """Send ``body`` to the server that sent ``request``, as its answer."""
        body["request"] = request.body.get("request")
        self.post(Message(kind, self.uid, request.namespace, body), to=request.node)

    # Heartbeats -------------------------------------------------------------------------

    async def _beat(self, client: RedisClient, stop: trio.Event, stopped: trio.Event) -> None:
        """Say this server lives every ``heartbeat_interval`` until ``stop`` is set, then
        set ``stopped``: after the last heartbeat's answer, or its bound."""
        options = self.options
        script = client.register_script(HEARTBEAT)
        lifetime = int(options.heartbeat_timeout * 1000)
        try:
            while not stop.is_set():
                try:
                    with bounded("the adapter heartbeat", options.call_timeout):
                        live: Any = await script(keys=[self.keys.nodes], args=[self.uid, lifetime])
                except RedisUnavailable as exc:
                    self._unavailable(exc)
                else:
                    self._reached()
                    self._count(int(live))
                with trio.move_on_after(options.heartbeat_interval):
                    await stop.wait()
        finally:
            stopped.set()

    def _count(self, servers: int) -> None:
        if servers != self.servers:
            logger.info(
                "adapter server %s: %d live server(s), were %d", self.uid, servers, self.servers
            )
        self.servers = servers
        if self.metrics is not None:
            self.metrics.servers.set(servers)

    async def server_count(self) -> int:
        """The live servers, this one included: asked of Redis (the last heartbeat's count
        when Redis does not answer)."""
        client = self.client
        if client is None:
            return self.servers
        try:
            with bounded("counting the adapter's servers", self.options.call_timeout):
                others: Any = await client.register_script(OTHERS)(
                    keys=[self.keys.nodes], args=[self.uid]
                )
        except RedisUnavailable:
            return self.servers
        return 1 + int(others)
