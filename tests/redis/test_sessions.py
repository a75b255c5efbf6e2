"""Persisted recovery sessions in a real redis-server (redis/sessions.py): written from a
queue that never blocks the caller, waited for by a restore of the same pid on the server
that is still writing it, taken at most once, and given up on (counted) when Redis does not
answer in time, rather than waited for for ever."""

import functools

import trio

from minidiscord.redis.connection import open_redis
from minidiscord.redis.sessions import SessionWriter, session_value, take_session
from minidiscord.redis.target import parse_redis_url
from minidiscord.sockets import Session
from tests.support.redisserver import RedisServer

KEY = b"test:recovery:pid-1"
SESSION = Session("sid-1", "pid-1", frozenset({"sid-1", "r"}), {"user": {"userId": "u1"}})


async def test_a_session_still_being_written_is_waited_for_then_taken_once(
    redis: RedisServer,
) -> None:
    writer = SessionWriter()
    async with open_redis(parse_redis_url(redis.url)) as client, trio.open_nursery() as nursery:
        await nursery.start(writer.run, client)
        redis.freeze()
        try:
            assert writer.keep(KEY, session_value(SESSION), 60_000)
            with trio.move_on_after(0.2):
                await writer.settled(KEY, 5.0)
            # Redis is frozen: the write is still on its way.
            assert writer.pending == 1
        finally:
            redis.thaw()
        await writer.settled(KEY, 5.0)
        assert writer.pending == 0
        assert 50_000 < await client.pttl(KEY) <= 60_000
        assert await take_session(client, KEY) == SESSION
        assert await take_session(client, KEY) is None
        nursery.cancel_scope.cancel()


async def test_a_write_redis_does_not_answer_in_time_is_given_up_and_counted(
    redis: RedisServer,
) -> None:
    writer = SessionWriter()
    async with open_redis(parse_redis_url(redis.url)) as client, trio.open_nursery() as nursery:
        await nursery.start(functools.partial(writer.run, client, call_timeout=0.3))
        redis.freeze()
        try:
            writer.keep(KEY, session_value(SESSION), 60_000)
            with trio.fail_after(5):
                await writer.flush(5.0)
            assert writer.pending == 0
            assert writer.lost == 1
        finally:
            redis.thaw()
        nursery.cancel_scope.cancel()
