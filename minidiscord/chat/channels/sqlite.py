"""SqliteChannels: the ChannelStore in the chat's SQLite file, on a connection of its own
(SqliteSide, as the account store). Channel changes are rare; each is one transaction."""

import sqlite3

from ..store.sidestores import SqliteSide
from .records import Channel, Conversation, NameTaken

_CHANNEL_COLUMNS = "id, name, topic, archived, created"


class SqliteChannels(SqliteSide):
    async def channels(self) -> list[Channel]:
        rows = await self._rows(f"SELECT {_CHANNEL_COLUMNS} FROM channel_info ORDER BY seq", ())
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

        await self._write(save)

    async def conversations(self) -> list[Conversation]:
        rows = await self._rows(
            "SELECT id, member_a, member_b, created FROM conversations ORDER BY created, id", ()
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

        return await self._write(add)
