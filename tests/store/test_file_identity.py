"""SqliteStore notices its file deleted or replaced: writes refused, health down with the
reason (logged once), reads still served from the file it holds open."""

import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minidiscord.chat.store.base import StoreWriteError
from minidiscord.chat.store.sqlite import SqliteStore


@pytest.fixture
async def store(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore.open(str(tmp_path / "chat.db"))
    await nursery.start(opened.run)
    yield opened
    await opened.close()


async def test_a_deleted_file_fails_the_store_for_writes_only(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    alice, session = await store.create_user("alice")
    kept = await store.add_message("general", alice, "kept", 1)
    assert store.failure is None
    # Readers that have read before keep the file's WAL open (a reader opening it only
    # after the deletion gets a disk I/O error: reads are served where they can be).
    for _ in range(2):
        assert await store.recent_messages("general", 10) == [kept]
    os.unlink(store.path)

    with pytest.raises(StoreWriteError, match="was deleted"):
        await store.add_message("general", alice, "lost", 2)
    assert store.failure == "the database file was deleted"
    for write in (store.create_user("bob"), store.delete_user(alice.user_id)):
        with pytest.raises(StoreWriteError):
            await write
    store.note_seen(alice.user_id, 3)  # dropped, quietly
    assert await store.healthy() is False

    assert await store.recent_messages("general", 10) == [kept]
    assert await store.get_session(session.session_id) == (alice, session)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"{store.failure} ({store.path})")


async def test_a_replaced_file_is_found_by_the_health_check(
    store: SqliteStore, tmp_path: Path
) -> None:
    alice, _ = await store.create_user("alice")
    assert await store.healthy() is True
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, store.path)

    assert await store.healthy() is False
    assert store.failure == "the database file was replaced by another file"
    with pytest.raises(StoreWriteError, match="replaced"):
        await store.add_message("general", alice, "lost", 1)
    # Nothing was written into the new file.
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0


async def test_the_same_file_under_the_same_name_is_fine(store: SqliteStore) -> None:
    # A path that resolves differently (a symlink to it) but to the same file.
    alice, _ = await store.create_user("alice")
    moved = store.path + ".moved"
    os.rename(store.path, moved)
    os.symlink(moved, store.path)
    await store.add_message("general", alice, "still here", 1)
    assert await store.healthy() is True
