"""SqliteReads: read positions in the chat's SQLite file, on a connection of their own
(store/sidestores.py, as the account store's). Unlike accounts it commits with
``synchronous=NORMAL``: a read position lost to a power cut costs a reader a few messages
shown as unread again, not worth an fsync at every mark.
"""

import sqlite3
from typing import Self

from ..store.sidestores import SqliteSide

_MARK = """
INSERT INTO read_positions (user_id, channel, message_id) VALUES (?, ?, ?)
ON CONFLICT (user_id, channel) DO UPDATE SET message_id = max(message_id, excluded.message_id)
RETURNING message_id
"""


class SqliteReads(SqliteSide):
    @classmethod
    def open(cls, path: str) -> Self:
        opened = super().open(path)
        opened._conn.execute("PRAGMA synchronous = NORMAL")
        return opened

    async def mark_read(self, user_id: str, channel: str, message_id: int) -> int:
        def mark(conn: sqlite3.Connection) -> int:
            # One statement: its own transaction in autocommit mode.
            position: int = conn.execute(_MARK, (user_id, channel, message_id)).fetchone()[0]
            return position

        return await self._in_thread(mark)

    async def positions(self, user_id: str) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT channel, message_id FROM read_positions WHERE user_id = ?", (user_id,)
            )
            return {channel: position for channel, position in rows}

        return await self._in_thread(read, write=False)

    async def forget(self, user_id: str) -> None:
        await self._in_thread(
            lambda conn: conn.execute("DELETE FROM read_positions WHERE user_id = ?", (user_id,))
        )
