"""SqliteSearch: SQLite's FTS5 index of the messages (``messages_fts``, kept in step with
them by triggers, see the migrations), read on a connection of its own."""

from collections.abc import Sequence
from typing import Any

from ..models import Message
from ..store.sidestores import SqliteSide
from .records import SNIPPET_CHARS, Hit, Page

# FTS5's snippet() counts tokens: about SNIPPET_CHARS characters of words.
_SNIPPET_TOKENS = max(8, SNIPPET_CHARS // 6)

_SEARCH = f"""
SELECT m.id, c.name, m.user_id, m.username, m.avatar, m.timestamp, m.message, m.edited_at,
       snippet(messages_fts, 0, '', '', '…', {_SNIPPET_TOKENS})
FROM messages_fts
JOIN messages AS m ON m.id = messages_fts.rowid
JOIN channels AS c ON c.id = m.channel_id
WHERE messages_fts MATCH ? AND m.deleted = 0 AND m.id < ? AND c.name IN ({{marks}})
ORDER BY m.id DESC
LIMIT ?
"""


def fts_query(words: Sequence[str]) -> str:
    """Every word, as the start of a word: FTS5 strings, never its operators."""
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


class SqliteSearch(SqliteSide):
    async def search(
        self, words: Sequence[str], channels: Sequence[str], before: int | None, limit: int
    ) -> Page:
        if not channels:
            return Page([], None)
        sql = _SEARCH.format(marks=", ".join("?" * len(channels)))
        top = min(before, 2**63 - 1) if before is not None else 2**63 - 1
        params: tuple[Any, ...] = (fts_query(words), top, *channels, limit)

        rows = await self._rows(sql, params)
        hits = [
            Hit(Message(mid, channel, uid, name, ts, text, avatar, edited), snippet)
            for mid, channel, uid, name, avatar, ts, text, edited, snippet in rows
        ]
        return Page(hits, hits[-1].message.id if len(hits) == limit else None)
