"""ClusterNode: one node of the chat on a shared Redis (the chat's Feed in cluster mode).

It owns the node's Redis client, its log reader, its presence registrations and its
heartbeat: every second the node renews its expiry in ``P:nodes`` (Redis's clock, plus the
node timeout) and reaps nodes past theirs (their users not connected elsewhere go offline
for everyone). A node that finds it was reaped (it was frozen or cut off) says so and
registers its live sockets again. Connection state recovery across nodes (its tail of what
the node showed, its persisted sessions in Redis) is its ``recovery`` (``recovery.py``).
"""

import logging
import secrets
from contextlib import AbstractContextManager
from enum import Enum
from typing import Any

import trio

from minidiscord.redis.connection import (
    DEFAULT_CALL_TIMEOUT,
    RedisClient,
    RedisUnavailable,
    bounded,
)

from ...sockets import AdapterFactory, ConnectionRefused
from ..models import User
from .effects import append_effect
from .keys import ClusterKeys
from .presence import ClusterPresence, NotRegistered
from .reader import LogReader, LogSink
from .recovery import ChatRecovery, adapter_factory

log = logging.getLogger(__name__)

# Seconds between heartbeats (a quarter of the node timeout when that is shorter than 4 s).
HEARTBEAT_INTERVAL = 1.0
# How long a sender's ack waits for this node to show its message (seconds): past it the
# message is durable and will be shown in order when the reader catches up.
SHOW_TIMEOUT = 2.0
# The reader counts as stalled when Redis has not answered it for this long (seconds).
STALLED_AFTER = 5.0


class Membership(Enum):
    """Where a node stands in the cluster. Its first beat makes it JOINED; its goodbye
    (:meth:`ClusterNode.leave`) makes it LEFT, after which it never beats again."""

    NEW = "new"
    JOINED = "joined"
    LEFT = "left"


def new_node_id() -> str:
    """A random node id (48 bits: no two live nodes share one), fresh at every start."""
    return secrets.token_hex(6)


class ClusterNode:
    """The Feed of a chat node in cluster mode (see :class:`minidiscord.chat.feed.Feed`)."""

    def __init__(
        self,
        client: RedisClient,
        prefix: str,
        *,
        node_timeout: float = 10.0,
        node_id: str | None = None,
    ) -> None:
        self.node_id = node_id or new_node_id()
        self.keys = ClusterKeys(prefix)
        self.client = client
        self.node_timeout = node_timeout
        self.heartbeat_interval = min(HEARTBEAT_INTERVAL, node_timeout / 4)
        self.presence = ClusterPresence(client, self.keys, self.node_id)
        self.recovery = ChatRecovery(client, self.keys)
        self._reader: LogReader | None = None
        self.heartbeat_problem: str | None = None
        # Times the heartbeat lost Redis and got it back (for /metrics).
        self.heartbeat_reconnects = 0
        # As of the last heartbeat: the log's last position, and how many nodes there are.
        self.head = 0
        self.nodes = 0
        self.membership = Membership.NEW
        # Held by a beat in flight, and by the goodbye: a beat Redis ran after the goodbye
        # would register the node again, without its users, until its timeout.
        self._beating = trio.Lock()

    @property
    def reader(self) -> LogReader:
        if self._reader is None:
            raise RuntimeError("no sink attached")
        return self._reader

    @property
    def adapter(self) -> AdapterFactory:
        """The adapter factory of the chat's SocketServer on this node (recovery offsets
        that are log positions, sessions in Redis)."""
        return adapter_factory(self.recovery)

    def attach(self, sink: LogSink) -> None:
        self._reader = self.recovery.attach(
            sink, lambda shown: LogReader(self.client, self.keys, shown)
        )

    def offset_at(self, position: int) -> AbstractContextManager[None]:
        return self.recovery.tail.offset_at(position)

    async def start(self, nursery: trio.Nursery) -> None:
        """Read the starting position, register, and run the reader and heartbeat in
        ``nursery``. Raises RedisUnavailable when Redis does not answer."""
        await self.reader.open()
        await self._beat()
        await nursery.start(self.reader.run)
        await nursery.start(self.presence.run_calls)
        await nursery.start(self.recovery.sessions.run, self.client)
        await nursery.start(self._heartbeat)

    async def _beat(self) -> None:
        timeout_ms = int(self.node_timeout * 1000)
        # Gaps between the heartbeats Redis runs stay near one interval while any node is
        # alive; a gap of several, and of half the timeout, means Redis itself was away.
        stalled_ms = int(max(self.node_timeout / 2, 3 * self.heartbeat_interval) * 1000)
        first = self.membership is Membership.NEW
        beat = await self.presence.beat(timeout_ms, stalled_ms, first=first)
        self.head, self.nodes = beat.head, beat.nodes
        known = beat.known
        if first:
            self.membership = Membership.JOINED
            log.info(
                "node %s joined the cluster (node timeout %g s)", self.node_id, self.node_timeout
            )
        elif not known:
            log.warning(
                "node %s was presumed dead by the cluster (no heartbeat within %g s); back, "
                "registering its %d socket(s) again",
                self.node_id,
                self.node_timeout,
                self.presence.sockets,
            )
            self.presence.out_of_step = True
        if self.presence.out_of_step:
            await self.presence.sync()

    async def _heartbeat(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.heartbeat_interval)
            async with self._beating:
                if self.membership is Membership.LEFT:
                    return
                await self._beat_once()

    async def _beat_once(self) -> None:
        try:
            await self._beat()
        except (RedisUnavailable, NotRegistered) as exc:
            if self.heartbeat_problem is None:
                log.warning("node %s cannot heartbeat: %s", self.node_id, exc)
            self.heartbeat_problem = str(exc)
            # A beat that timed out may still run later (its bytes waited in a cut link):
            # it then re-registers this node without its sockets and without this node
            # hearing of it, so the next beat that gets through syncs.
            self.presence.out_of_step = True
            return
        if self.heartbeat_problem is not None:
            log.warning("node %s heartbeats again", self.node_id)
            self.heartbeat_reconnects += 1
        self.heartbeat_problem = None

    def lag(self) -> int:
        """Log entries this node had not applied at its last heartbeat (bus lag)."""
        return max(0, self.head - self.reader.position) if self._reader is not None else 0

    def health(self) -> str | None:
        """None when the node is in step with the cluster; otherwise what is wrong."""
        reader = self.reader
        if reader.problem is not None:
            return f"the log reader is stalled: {reader.problem}"
        if trio.current_time() - reader.last_read > STALLED_AFTER:
            return "the log reader is stalled: redis has not answered it"
        if self.heartbeat_problem is not None:
            return f"the heartbeat is failing: {self.heartbeat_problem}"
        return None

    async def arrive(self, socket_id: str, user: User) -> None:
        try:
            position = await self.presence.up(socket_id, user)
        except (RedisUnavailable, NotRegistered) as exc:
            log.warning("socket %s of user %s was not registered: %s", socket_id, user.user_id, exc)
            raise ConnectionRefused(
                "the server cannot reach its database now; try again later"
            ) from None
        if not await self.reader.wait_applied(position, SHOW_TIMEOUT):
            self.presence.down(socket_id)
            raise ConnectionRefused("the server is catching up; try again later")

    def depart(self, socket_id: str) -> None:
        self.presence.down(socket_id)

    async def shown(self, position: int) -> bool:
        return await self.reader.wait_applied(position, SHOW_TIMEOUT)

    async def announce(self, effect: dict[str, Any]) -> None:
        await self.shown(await append_effect(self.client, self.keys, effect))

    async def caught_up(self) -> bool:
        try:
            with bounded("reading the log position"):
                raw = await self.client.get(self.keys.seq)
        except RedisUnavailable:
            return False
        return await self.shown(int(raw or 0))

    async def leave(self) -> None:
        """Graceful goodbye: this node's users not on another node go offline (after the
        sessions of its dropped sockets are kept, for their clients to recover elsewhere).
        It waits for a beat in flight (bounded like any call) and stops the heartbeat."""
        await self.recovery.sessions.flush(DEFAULT_CALL_TIMEOUT)
        async with self._beating:
            self.membership = Membership.LEFT
            try:
                await self.presence.depart()
            except RedisUnavailable as exc:
                log.warning("node %s could not leave the cluster cleanly: %s", self.node_id, exc)
                return
        log.info("node %s left the cluster", self.node_id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the client and run the node's tasks until cancelled (``nursery.start``)."""
        async with self.client, trio.open_nursery() as nursery:
            await self.start(nursery)
            task_status.started()
            await trio.sleep_forever()
