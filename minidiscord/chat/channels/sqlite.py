"""SqliteChannels: the ChannelStore in the chat's SQLite file, on a connection of its own
(as the account store: WAL lets it write beside the chat store's writer). Channel changes
are rare; each is one transaction in a worker thread."""

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ..store.base import StoreReadError, StoreWriteError
from ..store.sqlite import StoreError, _check_path, _connect, _prepare_writer, _reason
from .records import Channel, Conversation, NameTaken

T = TypeVar("T")

_CHANNEL_COLUMNS = "id, name, topic, archived, created"


class SqliteChannels:
    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        # Use SqliteChannels.open().
        self.path = path
        self._conn = conn
        self._lock = trio.Lock()

    @classmethod
    def open(cls, path: str) -> "SqliteChannels":
        """Open (migrating if need be) the database; raises StoreError with one line."""
        _check_path(path)
        try:
            conn = _connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {_reason(exc)}") from None
        try:
            _prepare_writer(conn, path, quick_check=False)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot use the database {path}: {_reason(exc)}") from None
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        async with self._lock:
            self._conn.close()

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        async with self._lock:
            try:
                return await trio.to_thread.run_sync(work, self._conn)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise (StoreWriteError if write else StoreReadError)(
                    f"{self.path}: {_reason(exc)}"
                ) from None

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        return await self._in_thread(transaction, write=True)

    async def _rows(self, sql: str) -> list[Any]:
        return await self._in_thread(lambda conn: conn.execute(sql).fetchall(), write=False)

    async def channels(self) -> list[Channel]:
        rows = await self._rows(f"SELECT {_CHANNEL_COLUMNS} FROM channel_info ORDER BY seq")
        return [Channel(row[0], row[1], row[2], bool(row[3]), row[4]) for row in rows]

    async def save(self, channel: Channel) -> None:
        def save(conn: sqlite3.Connection) -> None:
            taken = conn.execute(
                "SELECT id FROM channel_info WHERE name_key = ? AND id != ?",
                (channel.name_key, channel.id),
            ).fetchone()
            if taken is not None:
                raise NameTaken(channel.name)
            conn.execute(
                "INSERT INTO channel_info (id, name, name_key, topic, archived, created, seq)"
                " VALUES (?, ?, ?, ?, ?, ?,"
                " (SELECT coalesce(max(seq), 0) + 1 FROM channel_info))"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " name_key = excluded.name_key, topic = excluded.topic,"
                " archived = excluded.archived",
                (
                    channel.id,
                    channel.name,
                    channel.name_key,
                    channel.topic,
                    int(channel.archived),
                    channel.created,
                ),
            )

        await self._transaction(save)

    async def conversations(self) -> list[Conversation]:
        rows = await self._rows(
            "SELECT id, member_a, member_b, created FROM conversations ORDER BY created, id"
        )
        return [Conversation(row[0], (row[1], row[2]), row[3]) for row in rows]

    async def add_conversation(self, conversation: Conversation) -> bool:
        def add(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO conversations (id, member_a, member_b, created)"
                " VALUES (?, ?, ?, ?)",
                (conversation.id, *conversation.members, conversation.created),
            )
            return cursor.rowcount > 0

        return await self._transaction(add)
