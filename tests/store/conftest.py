"""Store fixtures: each backend opened through the factory, its writer in the test's nursery."""

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol, TypeVar

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
from minidiscord.redis.target import RedisTarget, parse_redis_url
from tests.support.redisserver import redis_server

S = TypeVar("S", bound="SideStore")


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


class SideStore(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    async def close(self) -> None: ...


@asynccontextmanager
async def side_store(
    kind: str,
    nursery: trio.Nursery,
    tmp_path: Path,
    *,
    memory: Callable[[], S],
    sqlite: Callable[[str], S],
    redis: Callable[[RedisTarget, str], S],
) -> AsyncIterator[S]:
    """A store kept beside the chat store (accounts, channels) of ``kind``, running in
    ``nursery``: SQLite beside a running chat store on the same file, as in a server."""
    async with AsyncExitStack() as stack:
        if kind == "redis":
            # As for the chat store: a private redis-server for this backend alone.
            server = await stack.enter_async_context(redis_server(tmp_path / "redis"))
            opened = redis(parse_redis_url(server.url), "test")
        elif kind == "sqlite":
            chat = open_store("sqlite", str(tmp_path / "chat.db"))
            await nursery.start(chat.run)
            stack.push_async_callback(chat.close)
            opened = sqlite(str(tmp_path / "chat.db"))
        else:
            opened = memory()
        await nursery.start(opened.run)
        stack.push_async_callback(opened.close)
        yield opened


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def account_store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[AccountStore]:
    """Each AccountStore backend (see side_store)."""
    memory: Callable[[], AccountStore] = MemoryAccounts
    async with side_store(
        request.param,
        nursery,
        tmp_path,
        memory=memory,
        sqlite=SqliteAccounts.open,
        redis=RedisAccounts,
    ) as accounts:
        yield accounts


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def channel_store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[ChannelStore]:
    """Each ChannelStore backend (see side_store)."""
    memory: Callable[[], ChannelStore] = MemoryChannels
    async with side_store(
        request.param,
        nursery,
        tmp_path,
        memory=memory,
        sqlite=SqliteChannels.open,
        redis=RedisChannels,
    ) as channels:
        yield channels
