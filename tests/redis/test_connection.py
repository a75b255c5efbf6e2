"""The Redis client the cluster uses: URLs checked at startup, calls bounded in time and
never retried, the durability settings checked, against a real redis-server."""

import logging
from pathlib import Path

import pytest
import trio
from coredis.tokens import PureToken

from benchkit.processes import free_port
from minidiscord.config import Settings, SettingsError
from minidiscord.redis.connection import (
    RedisUnavailable,
    bounded,
    durability_warnings,
    open_redis,
)
from minidiscord.redis.target import RedisURLError, parse_redis_url
from tests.support.redisserver import RedisServer, redis_server


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("redis://127.0.0.1:6400/2", "redis://127.0.0.1:6400/2"),
        ("redis://cache.internal", "redis://cache.internal:6379/0"),
        ("rediss://user:secret@cache.internal:6380/1", "rediss://cache.internal:6380/1"),
        ("redis://[::1]:6400", "redis://[::1]:6400/0"),
        ("unix:///run/redis.sock?db=3", "unix:/run/redis.sock"),
    ],
)
def test_a_redis_url_is_read_and_shown_without_its_password(url: str, where: str) -> None:
    target = parse_redis_url(url)
    assert target.url == url
    assert str(target) == where
    assert "secret" not in repr(target)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://127.0.0.1:6379", "is not a Redis URL"),
        ("127.0.0.1:6379", "is not a Redis URL"),
        ("redis://", "names no host"),
        ("redis://host:99999", "is not a URL"),
        ("redis://host/zero", "the database must be a number"),
        ("unix://", "names no socket path"),
    ],
)
def test_a_wrong_redis_url_is_one_line_naming_the_option(url: str, complaint: str) -> None:
    with pytest.raises(RedisURLError, match=complaint):
        parse_redis_url(url)
    with pytest.raises(SettingsError, match=rf"^MINIDISCORD_REDIS_URL: .*{complaint}") as caught:
        Settings.from_env({"MINIDISCORD_REDIS_URL": url})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("prefix", ["", "has space", "x" * 65, "caf\u00e9"])
def test_a_key_prefix_must_be_plain(prefix: str) -> None:
    with pytest.raises(SettingsError, match=r"^MINIDISCORD_REDIS_PREFIX: "):
        Settings.from_env({"MINIDISCORD_REDIS_PREFIX": prefix})


def test_without_a_redis_url_there_is_no_cluster() -> None:
    assert Settings().redis_url is None
    settings = Settings.from_env({"MINIDISCORD_REDIS_URL": "redis://h:1/0"})
    assert settings.redis_url is not None
    assert settings.redis_url.where == "redis://h:1/0"


async def test_durable_settings_raise_no_warning(redis: RedisServer) -> None:
    async with open_redis(parse_redis_url(redis.url)) as client:
        assert await durability_warnings(client) == []


@pytest.mark.parametrize(
    ("config", "warning"),
    [
        (("--appendonly", "no"), "appendonly no: acknowledged messages are lost"),
        (("--appendonly", "yes", "--appendfsync", "everysec"), "appendfsync everysec"),
    ],
)
async def test_weaker_durability_is_warned_of(
    tmp_path: Path, config: tuple[str, ...], warning: str
) -> None:
    async with (
        redis_server(tmp_path / "redis", config) as weak,
        open_redis(parse_redis_url(weak.url)) as client,
    ):
        warnings = await durability_warnings(client)
    assert len(warnings) == 1
    assert warning in warnings[0]


async def test_a_frozen_redis_is_unavailable_within_the_bound(redis: RedisServer) -> None:
    async with open_redis(parse_redis_url(redis.url)) as client:
        with bounded("SET"):
            await client.set("key", "before")
        redis.freeze()
        try:
            with (
                pytest.raises(RedisUnavailable, match=r"did not answer within 0.3 s \(GET\)"),
                bounded("GET", 0.3),
            ):
                await client.get("key")
        finally:
            redis.thaw()
        # The stalled connection was dropped, not reused: the next call gets its own answer.
        with bounded("GET"):
            assert await client.get("key") == b"before"


async def test_a_dead_redis_is_unavailable_and_a_restarted_one_serves_again(
    redis: RedisServer,
) -> None:
    async with open_redis(parse_redis_url(redis.url)) as client:
        with bounded("SET"):
            await client.set("kept", "1")
        await redis.kill()
        with pytest.raises(RedisUnavailable, match="unreachable"), bounded("GET"):
            await client.get("kept")
        await redis.start()
        # What was acknowledged before the kill came back from the AOF.
        with bounded("GET"):
            assert await client.get("kept") == b"1"


async def test_nothing_listening_is_unavailable() -> None:
    async with open_redis(parse_redis_url(f"redis://127.0.0.1:{free_port()}/0")) as client:
        with pytest.raises(RedisUnavailable, match="unreachable"), bounded("PING"):
            await client.ping()


async def test_a_write_is_never_retried_behind_the_callers_back(redis: RedisServer) -> None:
    """An INCR whose connection is cut while Redis holds it unapplied is reported as
    unavailable, not sent again on a new connection: the counter moves only by calls the
    caller saw succeed."""
    async with (
        open_redis(parse_redis_url(redis.url)) as client,
        open_redis(parse_redis_url(redis.url)) as admin,
    ):
        with bounded("INCR"):
            assert await client.incr("counter") == 1
        outcome: list[BaseException] = []

        async def incr_while_paused() -> None:
            try:
                with bounded("INCR", 5.0):
                    await client.incr("counter")
            except RedisUnavailable as exc:
                outcome.append(exc)

        with bounded("CLIENT PAUSE"):
            await admin.client_pause(2000, PureToken.WRITE)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(incr_while_paused)
            with trio.fail_after(5):
                # Redis offers no event for "a command is waiting": polled, bounded.
                while not any(c.get("cmd") == "incr" for c in await admin.client_list()):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            await admin.client_kill(type_=PureToken.NORMAL, skipme=True)
        with bounded("CLIENT UNPAUSE"):
            await admin.client_unpause()
        assert len(outcome) == 1
        assert "unreachable" in str(outcome[0])
        with bounded("GET"):
            assert await admin.get("counter") == b"1"


async def test_a_failed_connection_attempt_is_not_a_logged_traceback(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is frozen, each attempt to connect fails inside coredis, which logs a
    traceback for it at ERROR; the caller hears RedisUnavailable instead, and says it once."""
    async with open_redis(parse_redis_url(redis.url)) as client:
        redis.freeze()
        try:
            for _ in range(3):
                with pytest.raises(RedisUnavailable), bounded("PING", 0.3):
                    await client.ping()
        finally:
            redis.thaw()
    assert [r for r in caplog.records if r.name == "coredis" and r.levelno >= logging.ERROR] == []
