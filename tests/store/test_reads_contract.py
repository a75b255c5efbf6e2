"""The ReadStore contract (read positions), run on every backend (memory, SQLite, Redis)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minidiscord.chat.reads.memory import MemoryReads
from minidiscord.chat.reads.redis import RedisReads
from minidiscord.chat.reads.sqlite import SqliteReads
from minidiscord.chat.reads.store import ReadStore
from minidiscord.chat.store.base import StoreReadError, StoreWriteError
from minidiscord.chat.store.factory import open_store
from minidiscord.chat.store.migrations import MIGRATIONS
from minidiscord.redis.target import parse_redis_url
from tests.support.redisserver import redis_server


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def reads(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[ReadStore]:
    """Each backend, running in the test's nursery (SQLite beside a running chat store on
    the same file, as in a server)."""
    if request.param == "redis":
        async with redis_server(tmp_path / "redis") as redis:
            on_redis = RedisReads(parse_redis_url(redis.url), "test")
            await nursery.start(on_redis.run)
            yield on_redis
            await on_redis.close()
        return
    if request.param == "memory":
        yield MemoryReads()
        return
    chat = open_store("sqlite", str(tmp_path / "chat.db"))
    await nursery.start(chat.run)
    on_file = SqliteReads.open(str(tmp_path / "chat.db"))
    yield on_file
    await on_file.close()
    await chat.close()


async def test_a_position_is_kept_per_user_and_channel(reads: ReadStore) -> None:
    assert await reads.positions("ada") == {}
    assert await reads.mark_read("ada", "general", 5) == 5
    assert await reads.mark_read("ada", "dm:ada:bob", 9) == 9
    assert await reads.mark_read("bob", "general", 2) == 2
    assert await reads.positions("ada") == {"general": 5, "dm:ada:bob": 9}
    assert await reads.positions("bob") == {"general": 2}


async def test_a_position_never_moves_back(reads: ReadStore) -> None:
    await reads.mark_read("ada", "general", 7)
    # A tab that was behind marks an older message: the newer position stays.
    assert await reads.mark_read("ada", "general", 3) == 7
    assert await reads.mark_read("ada", "general", 8) == 8

    async def mark(position: int) -> None:
        await reads.mark_read("ada", "react", position)

    async with trio.open_nursery() as nursery:
        for position in (4, 12, 6, 10):
            nursery.start_soon(mark, position)
    assert (await reads.positions("ada"))["react"] == 12


async def test_a_user_who_goes_takes_its_positions(reads: ReadStore) -> None:
    await reads.mark_read("ada", "general", 1)
    await reads.mark_read("bob", "general", 1)
    await reads.forget("ada")
    assert await reads.positions("ada") == {}
    assert await reads.positions("bob") == {"general": 1}


async def test_sqlite_positions_survive_a_restart(nursery: trio.Nursery, tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    first = SqliteReads.open(path)
    await first.mark_read("ada", "general", 4)
    await first.close()
    again = SqliteReads.open(path)
    assert await again.positions("ada") == {"general": 4}
    assert any("read position" in m.description for m in MIGRATIONS)
    # A closed connection: the failure is the store's one-line error, not sqlite's.
    await again.close()
    with pytest.raises(StoreWriteError):
        await again.mark_read("ada", "general", 5)
    with pytest.raises(StoreReadError):
        await again.positions("ada")
