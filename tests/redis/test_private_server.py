"""The private redis-server every Redis test runs on keeps its AOF on the tmpfs when the
machine has one with room (no fsync waits behind other tests' disk writes), and where the
test asked otherwise; either way nothing is left behind."""

from pathlib import Path

import pytest
import trio

from tests.support import redisserver
from tests.support.redisserver import redis_server


def _aof_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if ".aof" in path.name]


async def test_its_aof_is_on_the_tmpfs_and_removed_after(tmp_path: Path) -> None:
    if not redisserver._memory_disk_has_room():
        pytest.skip("this machine has no tmpfs with room at /dev/shm")
    directory = tmp_path / "redis"
    async with redis_server(directory) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(b"SET k v\r\n")
            assert await stream.receive_some(64) == b"+OK\r\n"
        kept = directory.resolve()
        assert kept.parent == redisserver.MEMORY_DISK.resolve()
        assert _aof_files(directory), "appendonly yes writes its AOF in the directory"
        await server.restart()
    assert not directory.exists()
    assert not directory.is_symlink()
    assert not kept.exists()


async def test_without_a_tmpfs_with_room_it_stays_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redisserver, "MEMORY_DISK", tmp_path / "no-such-tmpfs")
    directory = tmp_path / "redis"
    async with redis_server(directory):
        assert directory.is_dir()
        assert not directory.is_symlink()
    assert _aof_files(directory)
