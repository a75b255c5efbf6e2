"""RedisReads: read positions on the cluster's Redis, beside the chat's keys.

``P:reads:USERID`` is a HASH of channel -> the newest message id read there; a mark is one
Lua script (the position never moves back, whichever node's mark lands first). Every call
is bounded and fails with the chat store's StoreReadError / StoreWriteError.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from coredis.exceptions import RedisError

from ...redis.connection import (
    DEFAULT_CALL_TIMEOUT,
    RedisClient,
    RedisUnavailable,
    bounded,
    open_redis,
)
from ...redis.target import RedisTarget
from ..store.base import StoreReadError, StoreWriteError

_MARK = """
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local wanted = tonumber(ARGV[2])
if wanted > now then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return wanted
end
return now
"""


class RedisReads:
    def __init__(
        self, target: RedisTarget, prefix: str, *, timeout: float = DEFAULT_CALL_TIMEOUT
    ) -> None:
        self.target = target
        self._prefix = prefix
        self._timeout = timeout
        self._client: RedisClient | None = None
        self._closed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with open_redis(self.target) as client:
            self._client = client
            try:
                task_status.started()
                await self._closed.wait()
            finally:
                self._client = None

    async def close(self) -> None:
        self._closed.set()

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}:reads:{user_id}"

    @asynccontextmanager
    async def _call(self, what: str, *, write: bool) -> AsyncIterator[RedisClient]:
        client = self._client
        if client is None:
            raise RuntimeError("the read store is not running: start RedisReads.run")
        try:
            with bounded(what, self._timeout):
                yield client
        except (RedisUnavailable, RedisError) as exc:
            raise (StoreWriteError if write else StoreReadError)(str(exc)) from None

    async def mark_read(self, user_id: str, channel: str, message_id: int) -> int:
        async with self._call("mark a message read", write=True) as client:
            position: Any = await client.register_script(_MARK)(
                [self._key(user_id)], [channel, message_id]
            )
        return int(position)

    async def positions(self, user_id: str) -> dict[str, int]:
        async with self._call("read the read positions", write=False) as client:
            found = await client.hgetall(self._key(user_id))
        return {_text(channel): int(position) for channel, position in found.items()}

    async def forget(self, user_id: str) -> None:
        async with self._call("forget the read positions", write=True) as client:
            await client.delete([self._key(user_id)])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
