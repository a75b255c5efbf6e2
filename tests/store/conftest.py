"""Store fixtures: each backend opened through the factory, its writer in the test's nursery."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minidiscord.chat.accounts.memory import MemoryAccounts
from minidiscord.chat.accounts.redis import RedisAccounts
from minidiscord.chat.accounts.sqlite import SqliteAccounts
from minidiscord.chat.accounts.store import AccountStore
from minidiscord.chat.channels.memory import MemoryChannels
from minidiscord.chat.channels.redis import RedisChannels
from minidiscord.chat.channels.sqlite import SqliteChannels
from minidiscord.chat.channels.store import ChannelStore
from minidiscord.chat.store.factory import RunnableStore, open_store
from minidiscord.redis.target import parse_redis_url
from tests.support.redisserver import redis_server


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[RunnableStore]:
    if request.param == "redis":
        # A private redis-server only for this backend: it skips (or fails in CI) without
        # one, which must not touch the other backends' runs.
        async with redis_server(tmp_path / "redis") as redis:
            target = parse_redis_url(redis.url)
            opened = open_store("sqlite", "", redis=target, prefix="test")
            await nursery.start(opened.run)
            yield opened
            await opened.close()
        return
    opened = open_store(request.param, str(tmp_path / "chat.db"))
    await nursery.start(opened.run)
    yield opened
    await opened.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def account_store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[AccountStore]:
    """Each AccountStore backend, running in the test's nursery (SQLite beside a running
    chat store on the same file, as in a server)."""
    if request.param == "redis":
        async with redis_server(tmp_path / "redis") as redis:
            accounts: AccountStore = RedisAccounts(parse_redis_url(redis.url), "test")
            await nursery.start(accounts.run)
            yield accounts
            await accounts.close()
        return
    if request.param == "memory":
        accounts = MemoryAccounts()
        yield accounts
        return
    chat = open_store("sqlite", str(tmp_path / "chat.db"))
    await nursery.start(chat.run)
    accounts = SqliteAccounts.open(str(tmp_path / "chat.db"))
    yield accounts
    await accounts.close()
    await chat.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def channel_store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[ChannelStore]:
    """Each ChannelStore backend, running in the test's nursery (SQLite beside a running
    chat store on the same file, as in a server)."""
    if request.param == "redis":
        async with redis_server(tmp_path / "redis") as redis:
            channels: ChannelStore = RedisChannels(parse_redis_url(redis.url), "test")
            await nursery.start(channels.run)
            yield channels
            await channels.close()
        return
    if request.param == "memory":
        yield MemoryChannels()
        return
    chat = open_store("sqlite", str(tmp_path / "chat.db"))
    await nursery.start(chat.run)
    channels = SqliteChannels.open(str(tmp_path / "chat.db"))
    yield channels
    await channels.close()
    await chat.close()
