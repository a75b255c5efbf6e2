"""Opening a database: unusable files are one-line StoreErrors, never a silent fresh start."""

import os
import sqlite3
from pathlib import Path

import pytest
import trio

from minidiscord.chat.models import Role
from minidiscord.chat.store import migrations
from minidiscord.chat.store.factory import StoreError, open_store
from minidiscord.chat.store.migrations import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    migrate,
)
from minidiscord.chat.store.sqlite import SqliteStore

as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")


def refused(path: Path | str) -> str:
    with pytest.raises(StoreError) as caught:
        open_store("sqlite", str(path))
    message = str(caught.value)
    assert "\n" not in message
    # Nothing chained: the CLI prints this one line, not a story of sqlite internals.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return message


async def make_db(path: Path, messages: int = 0) -> None:
    store = SqliteStore.open(str(path))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        user, _ = await store.create_user("alice")
        for n in range(messages):
            await store.add_message("general", user, f"message {n} " + "x" * 200, n)
        await store.close()


def test_random_bytes_are_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    assert "not a database" in refused(path)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.db"]


async def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    await make_db(path, messages=300)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) > 6 * page_size
    # Overwrite pages 3 to 5 (the tables' b-trees) but keep the header valid.
    data[2 * page_size : 5 * page_size] = os.urandom(3 * page_size)
    path.write_bytes(bytes(data))
    message = refused(path)
    assert str(path) in message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory" in refused(tmp_path)


def test_a_path_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "nowhere" / "chat.db")
    assert not (tmp_path / "nowhere").exists()


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    assert "does not exist" in refused(tmp_path / "plain" / "chat.db")


@as_root
async def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    await make_db(path)
    path.chmod(0o444)
    assert "not readable and writable" in refused(path)


@as_root
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    assert "not writable" in refused(tmp_path / "ro" / "chat.db")


async def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.touch()
    store = open_store("sqlite", str(path))
    assert await store.list_users() == []
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    await make_db(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    before = path.read_bytes()
    message = refused(path)
    assert "newer minidiscord" in message
    assert f"schema version {SCHEMA_VERSION + 5}" in message
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    assert "another program" in refused(path)
    marked = tmp_path / "marked.db"
    with sqlite3.connect(marked) as conn:
        conn.execute("PRAGMA application_id = 42")
    assert "another program" in refused(marked)


async def test_a_database_in_use_is_refused_until_released(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    first = open_store("sqlite", str(path))
    assert "in use by another minidiscord process" in refused(path)
    await first.close()
    second = open_store("sqlite", str(path))
    await second.close()


def test_an_unknown_store_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store 'redis'"):
        open_store("redis", str(tmp_path / "x"))


def test_migrations_apply_in_order_and_only_once(tmp_path: Path) -> None:
    extra = Migration("nicknames", ("ALTER TABLE users ADD COLUMN nickname TEXT",))
    with sqlite3.connect(tmp_path / "m.db", isolation_level=None) as conn:
        assert migrate(conn) == SCHEMA_VERSION
        assert migrate(conn) == 0
        assert migrate(conn, [*MIGRATIONS, extra]) == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        columns = [row[1] for row in conn.execute("PRAGMA table_info(users)")]
        assert columns[-1] == "nickname"


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    broken = Migration(
        "half done", ("CREATE TABLE half (x INTEGER)", "ALTER TABLE missing ADD COLUMN y TEXT")
    )
    with sqlite3.connect(tmp_path / "m.db", isolation_level=None) as conn:
        migrate(conn)
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, [*MIGRATIONS, broken])
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        assert "half" not in tables
        assert not conn.in_transaction


async def test_users_from_before_accounts_are_guests_after_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        migrate(conn, MIGRATIONS[:2])
        conn.execute("INSERT INTO users (user_id, username) VALUES ('u1', 'old')")
        conn.execute("INSERT INTO sessions (session_hash, user_id) VALUES (x'00', 'u1')")
    store = SqliteStore.open(str(path))
    try:
        (user,) = await store.list_users()
        assert (user.username, user.role) == ("old", Role.GUEST)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
    assert {"accounts", "account_sessions", "invites"} <= tables


def test_a_migration_another_process_applied_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin command and a starting server may both read an old version; the second to
    take the write lock finds the work done instead of failing on it."""
    path = tmp_path / "m.db"
    with (
        sqlite3.connect(path, isolation_level=None) as first,
        sqlite3.connect(path, isolation_level=None) as second,
    ):
        migrate(first, MIGRATIONS[:2])
        assert migrate(first) == len(MIGRATIONS) - 2
        # `second` read the version just before `first` migrated.
        reads = iter([2])
        real = migrations.schema_version
        monkeypatch.setattr(
            migrations, "schema_version", lambda conn: next(reads, None) or real(conn)
        )
        migrate(second)
        assert second.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
