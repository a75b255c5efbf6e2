"""SqliteReads: read positions in the chat's SQLite file, on a connection of their own.

As the account store does (chat/accounts/sqlite.py): WAL lets this connection write beside
the chat store's, one statement group at a time in a worker thread. Unlike accounts it
commits with ``synchronous=NORMAL``: a read position lost to a power cut costs a reader a
few messages shown as unread again, not worth an fsync at every mark.
"""

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import trio

from ..store.base import StoreReadError, StoreWriteError
from ..store.sqlite import StoreError, _check_path, _connect, _prepare_writer, _reason

T = TypeVar("T")

_MARK = """
INSERT INTO read_positions (user_id, channel, message_id) VALUES (?, ?, ?)
ON CONFLICT (user_id, channel) DO UPDATE SET message_id = max(message_id, excluded.message_id)
RETURNING message_id
"""


class SqliteReads:
    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        # Use SqliteReads.open().
        self.path = path
        self._conn = conn
        self._lock = trio.Lock()

    @classmethod
    def open(cls, path: str) -> "SqliteReads":
        """Open (creating and migrating if need be) the database; raises StoreError with a
        one-line message. Blocking: for startup."""
        _check_path(path)
        try:
            conn = _connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {_reason(exc)}") from None
        try:
            _prepare_writer(conn, path, quick_check=False)
            conn.execute("PRAGMA synchronous = NORMAL")
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

    async def _in_thread(
        self, work: Callable[[sqlite3.Connection], T], error: type[Exception]
    ) -> T:
        async with self._lock:
            try:
                return await trio.to_thread.run_sync(work, self._conn)
            except sqlite3.Error as exc:
                raise error(f"{self.path}: {_reason(exc)}") from None

    async def mark_read(self, user_id: str, channel: str, message_id: int) -> int:
        def mark(conn: sqlite3.Connection) -> int:
            # One statement: its own transaction in autocommit mode.
            position: int = conn.execute(_MARK, (user_id, channel, message_id)).fetchone()[0]
            return position

        return await self._in_thread(mark, StoreWriteError)

    async def positions(self, user_id: str) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT channel, message_id FROM read_positions WHERE user_id = ?", (user_id,)
            )
            return {channel: position for channel, position in rows}

        return await self._in_thread(read, StoreReadError)

    async def forget(self, user_id: str) -> None:
        await self._in_thread(
            lambda conn: conn.execute("DELETE FROM read_positions WHERE user_id = ?", (user_id,)),
            StoreWriteError,
        )
