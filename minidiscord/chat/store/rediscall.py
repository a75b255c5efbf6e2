"""One call on a store's running Redis client: bounded in time, and failing as the chat
store's StoreWriteError or StoreReadError (one line, why), never as a Redis error."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from coredis.exceptions import RedisError

from ...redis.connection import RedisClient, RedisUnavailable, bounded
from .base import StoreReadError, StoreWriteError


@asynccontextmanager
async def redis_call(
    owner: object, client: RedisClient | None, what: str, timeout: float, *, write: bool
) -> AsyncIterator[RedisClient]:
    """``client`` for one call of ``owner`` (None while ``owner.run`` is not running: a
    programming error), bounded by ``timeout`` seconds."""
    if client is None:
        name = type(owner).__name__
        raise RuntimeError(f"{name} is not running: start {name}.run")
    try:
        with bounded(what, timeout):
            yield client
    except (RedisUnavailable, RedisError) as exc:
        raise (StoreWriteError if write else StoreReadError)(str(exc)) from None
