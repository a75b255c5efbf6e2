"""Issue 18's SQLite migration on a database written before it: the messages kept so far
are searchable (the FTS5 index is rebuilt), unedited and without reactions."""

import sqlite3
from pathlib import Path

from minidiscord.chat.models import CHANNELS
from minidiscord.chat.search.sqlite import SqliteSearch
from minidiscord.chat.store.migrations import MIGRATIONS, migrate
from minidiscord.chat.store.sqlite import SqliteStore

EDITS = "edited messages, reactions and full-text search"
# The migrations before the one of edits, reactions and search.
BEFORE = MIGRATIONS[: [m.description for m in MIGRATIONS].index(EDITS)]


def test_edits_reactions_and_search_are_one_migration() -> None:
    assert [m.description for m in MIGRATIONS].count(EDITS) == 1


async def test_messages_from_before_the_migration_are_found_and_stay_as_they_were(
    tmp_path: Path,
) -> None:
    db = tmp_path / "chat.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, BEFORE)
    conn.executemany("INSERT INTO channels (id, name) VALUES (?, ?)", enumerate(CHANNELS, 1))
    conn.executemany(
        "INSERT INTO messages (id, channel_id, user_id, username, avatar, timestamp, message)"
        " VALUES (?, 2, 'u1', 'ada', NULL, ?, ?)",
        [(1, 1000, "an old release note"), (2, 1001, "lunch")],
    )
    conn.execute("UPDATE messages SET deleted = 1, message = '' WHERE id = 2")
    conn.close()

    store = SqliteStore.open(str(db))
    search = SqliteSearch.open(str(db))
    try:
        page = await search.search(["release"], list(CHANNELS), None, 10)
        assert [hit.message.id for hit in page.hits] == [1]
        (kept,) = await store.recent_messages("general", 10)
        assert (kept.message, kept.edited_at, kept.reactions) == ("an old release note", None, ())
    finally:
        await search.close()
        await store.close()
