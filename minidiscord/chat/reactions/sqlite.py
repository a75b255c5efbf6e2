"""SqliteReactions: reactions in the chat's SQLite file (table ``reactions``, see the
migrations), on a connection of its own as the accounts have (WAL lets it write beside the
chat store's writer). One change is one transaction: read the message's reactions, apply
``records.changed``, write the difference; ``BEGIN IMMEDIATE`` makes it atomic."""

import sqlite3
from collections.abc import Collection, Mapping
from typing import Final

from ..store.sidestores import SqliteSide
from .records import Outcome, Reactions, changed, grouped
from .store import MessageKey

# Ids per read (SQLite binds at most 32,766 parameters; a history page is far below).
_IDS_PER_READ: Final = 500


class SqliteReactions(SqliteSide):
    async def add(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return await self._change(channel, message_id, emoji, user_id, add=True)

    async def remove(
        self, channel: str, message_id: int, emoji: str, user_id: str
    ) -> tuple[Outcome, Reactions]:
        return await self._change(channel, message_id, emoji, user_id, add=False)

    async def _change(
        self, channel: str, message_id: int, emoji: str, user_id: str, *, add: bool
    ) -> tuple[Outcome, Reactions]:
        def change(conn: sqlite3.Connection) -> tuple[Outcome, Reactions]:
            rows = conn.execute(
                "SELECT emoji, user_id FROM reactions WHERE channel = ? AND message_id = ?"
                " ORDER BY seq",
                (channel, message_id),
            ).fetchall()
            outcome, now = changed(tuple(rows), emoji, user_id, add=add)
            row = (channel, message_id, emoji, user_id)
            if outcome is Outcome.CHANGED and add:
                conn.execute(
                    "INSERT INTO reactions (channel, message_id, emoji, user_id)"
                    " VALUES (?, ?, ?, ?)",
                    row,
                )
            elif outcome is Outcome.CHANGED:
                conn.execute(
                    "DELETE FROM reactions WHERE channel = ? AND message_id = ? AND emoji = ?"
                    " AND user_id = ?",
                    row,
                )
            return outcome, grouped(now)

        # One transaction (SqliteSide._write, BEGIN IMMEDIATE): the read and the write it
        # decides are atomic however many users react at once.
        return await self._write(change)

    async def of(self, wanted: Mapping[str, Collection[int]]) -> dict[MessageKey, Reactions]:
        def read(conn: sqlite3.Connection) -> dict[MessageKey, Reactions]:
            rows: dict[MessageKey, list[tuple[str, str]]] = {}
            for channel, numbers in wanted.items():
                ids = list(numbers)
                for start in range(0, len(ids), _IDS_PER_READ):
                    chunk = ids[start : start + _IDS_PER_READ]
                    marks = ", ".join("?" * len(chunk))
                    for number, emoji, user_id in conn.execute(
                        "SELECT message_id, emoji, user_id FROM reactions"
                        f" WHERE channel = ? AND message_id IN ({marks}) ORDER BY seq",
                        (channel, *chunk),
                    ):
                        rows.setdefault((channel, number), []).append((emoji, user_id))
            return {key: grouped(pairs) for key, pairs in rows.items()}

        if not any(wanted.values()):
            return {}
        return await self._in_thread(read, write=False)
