"""Appending a moderation effect to the cluster log: by a node (``ClusterNode.announce``)
and by ``minidiscord admin`` on Redis (``LogOutbox``), so every running node's reader
applies it to its own sockets (``LogSink.moderated``)."""

from typing import Any

import orjson
from coredis.exceptions import RedisError

from minidiscord.redis.connection import RedisClient, RedisUnavailable, bounded

from ..moderation.effects import Effect
from ..store.base import StoreWriteError
from ..store.rediskeys import MODERATION
from .keys import APPEND_LUA, ClusterKeys

_APPEND_EFFECT = APPEND_LUA + "return append(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"
# KEYS: seq, log. ARGV: kind, the effect's JSON.


async def append_effect(client: RedisClient, keys: ClusterKeys, effect: Effect) -> int:
    """The effect's log position; raises StoreWriteError when Redis does not take it."""
    try:
        with bounded("announcing a moderation effect"):
            position: Any = await client.register_script(_APPEND_EFFECT)(
                [keys.seq, keys.log], [MODERATION, orjson.dumps(effect)]
            )
    except (RedisUnavailable, RedisError) as exc:
        raise StoreWriteError(f"the moderation effect was not announced: {exc}") from None
    return int(position)


class LogOutbox:
    """``minidiscord admin``'s Outbox on Redis: the cluster log itself."""

    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._client = client
        self._keys = ClusterKeys(prefix)

    async def publish(self, effect: Effect) -> None:
        await append_effect(self._client, self._keys, effect)
