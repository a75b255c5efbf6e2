"""The log reader: one task per node applies ``P:log`` to this node's sockets, in order.

Only the reader makes events visible in cluster mode, so every node shows the same events
in the same order, and a node that lost Redis for a while resumes from its last applied
position: nothing lost, doubled or reordered. If the log was trimmed past that position
(the node was away too long), the node resyncs: it reads presence afresh and its sockets
reconnect for a fresh snapshot.
"""

import heapq
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import trio

from minidiscord.redis.connection import RedisClient, RedisUnavailable, bounded

from .. import stages
from ..models import Message, User
from .keys import ClusterKeys
from .presence import flat_users, user_from

log = logging.getLogger(__name__)

# XREAD waits this long for new entries (ms) and takes up to this many at once.
BLOCK_MS = 1000
BATCH = 1000
# Seconds between attempts while Redis does not answer, growing to the second one.
BACKOFF = (0.05, 1.0)

# KEYS: seq, onlineuser. The log position and the online users at that position.
MIRROR = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('HVALS', KEYS[2])}
"""


class LogSink(Protocol):
    """What applies log entries to a node's sockets (the chat, in cluster mode). Each call
    runs without awaiting, in log order; ``position`` is the entry's number."""

    def reset(self, position: int, online: list[User], *, resync: bool) -> None:
        """Start (or start over) at ``position`` with these users online."""
        ...

    def message(self, position: int, message: Message) -> None: ...

    def online(self, position: int, user: User, *, first: bool) -> None: ...

    def offline(self, position: int, user: User) -> None: ...

    def leave(self, position: int, user: User) -> None: ...

    def moderated(self, position: int, effect: dict[str, Any]) -> None:
        """A moderation effect (a deletion, a kick, a timeout, a role) for this node's
        sockets."""
        ...

    def skipped(self, position: int) -> None:
        """An entry this node does not show (a node event, or one it cannot read)."""
        ...


def message_from(data: object) -> Message | None:
    """A ``message`` entry's payload (the store's dict) as a Message (None if malformed)."""
    if not isinstance(data, dict):
        return None
    try:
        avatar = data.get("avatar")
        message = Message(
            id=int(data["id"]),
            channel=str(data["channel"]),
            user_id=str(data["userId"]),
            username=str(data["username"]),
            timestamp=int(data["timestamp"]),
            message=str(data["message"]),
            avatar=avatar if isinstance(avatar, str) else None,
        )
    except (KeyError, TypeError, ValueError):
        return None
    # Any channel: the original five, created channels and conversations (whose
    # messages the sink delivers to their members only).
    return message if message.channel else None


def entry_number(identifier: bytes | str) -> int:
    """The log position of a stream id ``0-n``."""
    text = identifier.decode() if isinstance(identifier, bytes) else identifier
    return int(text.rpartition("-")[2])


class LogReader:
    """Reads the log from the last applied position and hands each entry to the sink."""

    def __init__(self, client: RedisClient, keys: ClusterKeys, sink: LogSink) -> None:
        self._client = client
        self._keys = keys
        self._sink = sink
        self._mirror = client.register_script(MIRROR)
        # The last entry applied (0: none).
        self.position = 0
        # trio time of the last read that Redis answered, and why the last one failed.
        self.last_read = 0.0
        self.problem: str | None = None
        # Times the reader lost Redis and got it back (for /metrics).
        self.reconnects = 0
        # Told, for each message shown, the seconds since its sender's node accepted it
        # (by the wall clocks of two hosts: as exact as they agree).
        self.on_delay: Callable[[float], None] | None = None
        self._waiters: list[tuple[int, int, trio.Event]] = []
        self._waiter_count = 0

    async def open(self, *, resync: bool = False) -> None:
        """Read the log position and the online users in one step and start from there."""
        with bounded("reading the presence mirror"):
            reply: object = await self._mirror([self._keys.seq, self._keys.online_user], [])
        if not isinstance(reply, list) or len(reply) != 2:
            raise RedisUnavailable(f"unexpected presence mirror reply {reply!r}")
        position, values = reply
        self.position = int(position)
        self._sink.reset(self.position, flat_users(values), resync=resync)
        self.last_read = trio.current_time()
        self._wake()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply the log for ever, from the last applied position (``open`` first)."""
        task_status.started()
        pause = BACKOFF[0]
        key = self._keys.log.encode()
        while True:
            try:
                with bounded("reading the log", BLOCK_MS / 1000 + 2.0):
                    reply = await self._client.xread(
                        {self._keys.log: f"0-{self.position}"}, count=BATCH, block=BLOCK_MS
                    )
                entries = reply.get(key, ()) if reply else ()
                gap = entries and entry_number(entries[0].identifier) != self.position + 1
                if gap and await self._trimmed():
                    await self._resync()
                    continue
            except RedisUnavailable as exc:
                if self.problem is None:
                    log.warning("the log reader lost redis at entry %d: %s", self.position, exc)
                self.problem = str(exc)
                await trio.sleep(pause)
                pause = min(pause * 2, BACKOFF[1])
                continue
            if self.problem is not None:
                log.warning("the log reader is back, from entry %d", self.position)
                self.reconnects += 1
            self.problem = None
            pause = BACKOFF[0]
            self.last_read = trio.current_time()
            trace = stages.trace
            read_at = time.time() if trace is not None else 0.0
            for entry in entries:
                number = entry_number(entry.identifier)
                try:
                    self._apply(number, entry.field_values)
                except Exception:
                    # One entry the chat could not show must not stop every later one.
                    log.exception("applying log entry %d failed; going on", number)
                if trace is not None:
                    trace.mark(number, "read", read_at)
                    trace.mark(number, "shown", time.time())
            self._wake()

    async def _trimmed(self) -> bool:
        """Whether entries after this node's position were trimmed away (not just a gap in
        the numbering, which a failed script can leave)."""
        with bounded("checking the log's oldest entry"):
            first = await self._client.xrange(self._keys.log, "-", "+", count=1)
        if not first:
            return False
        # The oldest entry kept is past the next one: everything between was trimmed,
        # unless it never existed; the numbering is shared by every entry, so a gap at
        # the head means trimming.
        return entry_number(first[0].identifier) > self.position + 1

    async def _resync(self) -> None:
        behind = self.position
        await self.open(resync=True)
        log.warning(
            "resync: the log no longer holds the entries after %d (this node was away too "
            "long); presence was read again at %d and this node's clients reconnect",
            behind,
            self.position,
        )

    def _apply(self, position: int, fields: Any) -> None:
        kind = fields.get(b"k")
        try:
            data = orjson.loads(fields.get(b"d", b"null"))
        except orjson.JSONDecodeError:
            data = None
        self.position = position
        sink = self._sink
        if kind == b"message":
            message = message_from(data)
            if message is not None:
                sink.message(position, message)
                if self.on_delay is not None:
                    self.on_delay(max(0.0, time.time() - message.timestamp / 1000))
                return
        elif kind in (b"online", b"offline", b"leave"):
            user = user_from(data.get("user", data) if isinstance(data, dict) else None)
            if user is not None:
                if kind == b"online":
                    sink.online(position, user, first=bool(data.get("first")))
                elif kind == b"offline":
                    sink.offline(position, user)
                else:
                    sink.leave(position, user)
                return
        elif kind == b"moderation" and isinstance(data, dict):
            sink.moderated(position, data)
            return
        elif kind == b"node" and isinstance(data, dict):
            log.info("node %s: %s (log entry %d)", data.get("node"), data.get("event"), position)
            sink.skipped(position)
            return
        log.warning("log entry %d of kind %r could not be read; skipped", position, kind)
        sink.skipped(position)

    async def wait_applied(self, position: int, timeout: float) -> bool:
        """Until this node has applied the log through ``position`` (False after
        ``timeout`` seconds)."""
        if self.position >= position:
            return True
        event = trio.Event()
        self._waiter_count += 1
        heapq.heappush(self._waiters, (position, self._waiter_count, event))
        with trio.move_on_after(timeout):
            await event.wait()
        return self.position >= position

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.position:
            heapq.heappop(waiters)[2].set()
