"""RedisReads: read positions on the cluster's Redis, beside the chat's keys.

``P:reads:USERID`` is a HASH of channel -> the newest message id read there; a mark is one
Lua script (the position never moves back, whichever node's mark lands first). Every call
is bounded and fails with the chat store's StoreReadError / StoreWriteError
(store/sidestores.py).
"""

from typing import Any

from ..store.sidestores import RedisSide

_MARK = """
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local wanted = tonumber(ARGV[2])
if wanted > now then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return wanted
end
return now
"""


class RedisReads(RedisSide):
    def _key(self, user_id: str) -> str:
        return f"{self._prefix}:reads:{user_id}"

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
