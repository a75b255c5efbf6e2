"""Persisted sessions of connection state recovery, kept in Redis where every server that
shares it finds them: one JSON value per session under a key named by its pid, expiring
with the recovery window, and taken with ``GETDEL`` so that a session is given back at most
once, by whichever server asks first. The Redis adapter (``adapter_sessions``) and the
chat's cluster mode (``chat/cluster/recovery.py``) keep theirs this way.

:class:`SessionWriter` writes them for a server that has no writer of its own: persisting
happens as a socket leaves, which never waits, so writes go through a bounded queue that one
task drains into pipelines.
"""

import logging
from typing import Any

import trio
from coredis.exceptions import RedisError

from ..protocol import jsoncodec
from ..sockets import Session
from .connection import DEFAULT_CALL_TIMEOUT, RedisClient, RedisUnavailable, bounded

logger = logging.getLogger(__name__)

# Sessions waiting for the writer before new ones are dropped (their clients then get a
# new socket when they come back), and how many go in one pipeline.
QUEUE_SIZE = 10_000
WRITE_BATCH = 500
# Seconds between two log lines about sessions that were not kept.
LOSS_LOG_INTERVAL = 5.0


def session_value(session: Session) -> bytes:
    """A session as kept in Redis (raises TypeError when its data is not JSON)."""
    return jsoncodec.dumps(
        {
            "sid": session.sid,
            "pid": session.pid,
            "rooms": sorted(session.rooms),
            "data": session.data,
        }
    ).encode()


def session_of(value: bytes) -> Session | None:
    """A kept session (None when the value is not one)."""
    kept = jsoncodec.loads(value)
    if not isinstance(kept, dict):
        return None
    sid, pid, rooms, data = (kept.get(key) for key in ("sid", "pid", "rooms", "data"))
    if not (isinstance(sid, str) and isinstance(pid, str) and isinstance(data, dict)):
        return None
    if not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
        return None
    return Session(sid, pid, frozenset(rooms), data)


async def take_session(
    client: RedisClient, key: bytes | str, timeout: float = DEFAULT_CALL_TIMEOUT
) -> Session | None:
    """The session kept under ``key``, removed in the same step (None when there is none,
    or it is malformed). Raises RedisUnavailable."""
    with bounded("taking a persisted session", timeout):
        value = await client.getdel(key)
    return None if value is None else session_of(value)


class SessionWriter:
    """Writes persisted sessions (``SET key value PX ttl``) from a bounded queue; ``keep``
    never waits. Run :meth:`run` in a task with the server's Redis client."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._in, self._out = trio.open_memory_channel[tuple[str | bytes, bytes, int]](queue_size)
        # Writes queued or being sent, per key: a restore of a session this server itself
        # is still writing waits for that write rather than missing it.
        self._pending: dict[str | bytes, int] = {}
        self._settled = trio.Event()
        self._settled.set()
        self.lost = 0
        self._lost_since_log = 0
        self._loss_logged_at = -LOSS_LOG_INTERVAL

    @property
    def pending(self) -> int:
        """Sessions queued or being written."""
        return sum(self._pending.values())

    def keep(self, key: str | bytes, value: bytes, ttl_ms: int) -> bool:
        """Queue the write of a session (False: the queue is full, it is not kept)."""
        try:
            self._in.send_nowait((key, value, ttl_ms))
        except (trio.WouldBlock, trio.ClosedResourceError):
            self._lose(1, "queue full")
            return False
        self._pending[key] = self._pending.get(key, 0) + 1
        if self._settled.is_set():
            self._settled = trio.Event()
        return True

    async def settled(self, key: str | bytes, timeout: float) -> None:
        """Until no write of ``key`` is queued or in flight (at most ``timeout`` seconds)."""
        with trio.move_on_after(timeout):
            while key in self._pending:
                await self._settled.wait()

    async def flush(self, timeout: float) -> None:
        """Until every queued session is written (or dropped), at most ``timeout`` seconds."""
        with trio.move_on_after(timeout):
            while self._pending:
                await self._settled.wait()

    async def run(
        self,
        client: RedisClient,
        *,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Write queued sessions for ever, many per pipeline."""
        task_status.started()
        async for first in self._out:
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._out.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            try:
                await self._write(client, batch, call_timeout)
            finally:
                self._done(batch)

    async def _write(
        self, client: RedisClient, batch: list[tuple[str | bytes, bytes, int]], call_timeout: float
    ) -> None:
        try:
            with bounded(f"keeping {len(batch)} session(s)", call_timeout):
                async with client.pipeline(transaction=False) as pipe:
                    replies: list[Any] = [
                        pipe.set(key, value, px=ttl_ms) for key, value, ttl_ms in batch
                    ]
                for reply in replies:
                    await reply
        except RedisUnavailable as exc:
            self._lose(len(batch), str(exc))
        except RedisError as exc:
            self._lose(len(batch), f"refused: {exc}")

    def _done(self, batch: list[tuple[str | bytes, bytes, int]]) -> None:
        pending = self._pending
        for key, _, _ in batch:
            left = pending.get(key, 0) - 1
            if left > 0:
                pending[key] = left
            else:
                pending.pop(key, None)
        if not pending:
            self._settled.set()
        else:
            # Wake whoever waits for one key; the others wait again.
            settled, self._settled = self._settled, trio.Event()
            settled.set()

    def _lose(self, count: int, reason: str) -> None:
        self.lost += count
        self._lost_since_log += count
        now = trio.current_time()
        # One line per interval, not one per session while Redis is away.
        if now - self._loss_logged_at >= LOSS_LOG_INTERVAL:
            logger.warning(
                "%d persisted session(s) not kept (%s): those clients get a new socket "
                "when they come back",
                self._lost_since_log,
                reason,
            )
            self._lost_since_log = 0
            self._loss_logged_at = now
