"""The SQLite schema as an ordered list of migrations, and the runner that applies them.

The schema version lives in ``PRAGMA user_version``; migration N (1-based) takes a database
from version N-1 to N inside one transaction, together with the version bump, so a crash
mid-migration leaves the previous version intact. Migrations are append-only: a released
one is never edited, a change is a new entry. ``PRAGMA application_id`` marks the file as
ours, so another program's SQLite database is refused rather than written into.
"""

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

# "mDsc" in ASCII: tells our files apart from other SQLite databases.
APPLICATION_ID = 0x6D447363


@dataclass(frozen=True, slots=True)
class Migration:
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "channels, users, sessions and messages",
        (
            """CREATE TABLE channels (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE
            )""",
            # seq keeps creation order for `list_users`; user_id is the random public id.
            """CREATE TABLE users (
                seq INTEGER PRIMARY KEY,
                user_id TEXT NOT NULL UNIQUE,
                username TEXT NOT NULL,
                avatar TEXT
            )""",
            # Only a hash of the session id is kept: a copied database file does not hand
            # out working credentials.
            """CREATE TABLE sessions (
                session_hash BLOB PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE
            ) WITHOUT ROWID""",
            "CREATE INDEX sessions_by_user ON sessions(user_id)",
            # user_id is deliberately not a foreign key: messages outlive their author.
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY,
                channel_id INTEGER NOT NULL REFERENCES channels(id),
                user_id TEXT NOT NULL,
                username TEXT NOT NULL,
                avatar TEXT,
                timestamp INTEGER NOT NULL,
                message TEXT NOT NULL
            )""",
            "CREATE INDEX messages_by_channel ON messages(channel_id, id)",
        ),
    ),
    Migration(
        "users' last-seen time, which ranks offline users for the `users` list",
        (
            # Milliseconds since the epoch; 0: never seen.
            "ALTER TABLE users ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0",
            # Users kept from before had no such time: their last message is the best
            # evidence of a visit; users who never wrote stay unlisted until they come back.
            # (One pass over the messages, which have no index by user; UPDATE ... FROM
            # would need SQLite 3.33.)
            """CREATE TEMP TABLE spoke AS
                SELECT user_id, max(timestamp) AS at FROM messages GROUP BY user_id""",
            "CREATE UNIQUE INDEX temp.spoke_by_user ON spoke(user_id)",
            """UPDATE users SET last_seen = coalesce(
                (SELECT at FROM temp.spoke WHERE spoke.user_id = users.user_id), 0)""",
            "DROP TABLE temp.spoke",
            # The connect snapshot reads the most recently seen users through it.
            "CREATE INDEX users_by_last_seen ON users(last_seen)",
        ),
    ),
    Migration(
        "accounts, their login sessions and invite codes; every user's role",
        (
            # Every user kept so far came without an account: a guest.
            "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'guest'",
            # When the user (and a guest's session) was made: a guest session's absolute
            # lifetime counts from it. Users from before count from their last visit.
            "ALTER TABLE users ADD COLUMN created INTEGER NOT NULL DEFAULT 0",
            "UPDATE users SET created = last_seen",
            # name_key (chat/accounts/names.py) is what makes two names the same one: it is
            # unique, the name as typed is what others see. user_id: the chat user this
            # account speaks as, made at its first connect (NULL until then).
            """CREATE TABLE accounts (
                account_id TEXT PRIMARY KEY,
                username TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                created INTEGER NOT NULL,
                user_id TEXT,
                user_seq INTEGER
            ) WITHOUT ROWID""",
            # As chat sessions: only a hash of the token. Ended sessions stay (with why)
            # until their absolute lifetime is long over, so a restore can say why it fails.
            """CREATE TABLE account_sessions (
                session_hash BLOB PRIMARY KEY,
                handle TEXT NOT NULL UNIQUE,
                account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
                created INTEGER NOT NULL,
                last_used INTEGER NOT NULL,
                ended INTEGER,
                end_reason TEXT,
                agent TEXT NOT NULL DEFAULT ''
            ) WITHOUT ROWID""",
            "CREATE INDEX account_sessions_by_account ON account_sessions(account_id)",
            """CREATE TABLE invites (
                invite_hash BLOB PRIMARY KEY,
                created INTEGER NOT NULL,
                expires INTEGER NOT NULL,
                created_by TEXT NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "moderation: deleted messages, bans and the audit log",
        (
            # A deleted message is a tombstone (its text erased, its row kept): message ids
            # are numbered from MAX(id) at start, so removing the newest row would hand its
            # id out again; reads leave tombstones out.
            "ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
            # subject: an account's id, or a guest's user id (chat/moderation/records.py).
            """CREATE TABLE bans (
                subject TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                banned_by TEXT NOT NULL,
                created INTEGER NOT NULL
            ) WITHOUT ROWID""",
            # Who did what to whom, when and why; id pages it, newest first.
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY,
                at INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX accounts_by_user ON accounts(user_id)",
        ),
    ),
    Migration(
        "timeouts, the outbox of effects for a running server, the audit log by time",
        (
            # Until when (ms) a user may not send: a restart keeps it. Rows past their
            # time are dropped as new ones come.
            """CREATE TABLE timeouts (
                user_id TEXT PRIMARY KEY,
                until INTEGER NOT NULL
            ) WITHOUT ROWID""",
            # What `minidiscord admin` did that a running server must apply to its sockets
            # (chat/moderation/effects.py): the server reads the rows after the last it
            # applied, by id; rows are dropped an hour after they were written. AUTOINCREMENT:
            # with every row dropped, a plain rowid would start again below the server's last.
            """CREATE TABLE moderation_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                effect TEXT NOT NULL
            )""",
            # The audit log's retention prunes by age.
            "CREATE INDEX audit_by_at ON audit(at)",
        ),
    ),
    Migration(
        "created channels, channel topics and direct conversations",
        (
            # A channel's id stays when it is renamed; name_key makes names unique whatever
            # their case. The original channels have a row once their topic is set.
            """CREATE TABLE channel_info (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                topic TEXT NOT NULL,
                archived INTEGER NOT NULL,
                created INTEGER NOT NULL,
                seq INTEGER NOT NULL
            ) WITHOUT ROWID""",
            # member_a < member_b: the conversation's id names both.
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                member_a TEXT NOT NULL,
                member_b TEXT NOT NULL,
                created INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "edited messages, reactions and full-text search",
        (
            # When its author last edited it (ms since the epoch); NULL: never.
            "ALTER TABLE messages ADD COLUMN edited_at INTEGER",
            # One row per user's emoji on a message; seq keeps the order they came in.
            """CREATE TABLE reactions (
                seq INTEGER PRIMARY KEY,
                channel TEXT NOT NULL,
                message_id INTEGER NOT NULL,
                emoji TEXT NOT NULL,
                user_id TEXT NOT NULL,
                UNIQUE (channel, message_id, emoji, user_id)
            )""",
            "CREATE INDEX reactions_by_message ON reactions(channel, message_id, seq)",
            # Full-text search over the messages' text (chat/search/sqlite.py). Triggers keep
            # it in step with every send, edit and delete (a tombstone's text is ''), inside
            # the same transaction; the rebuild indexes the messages kept so far.
            """CREATE VIRTUAL TABLE messages_fts USING fts5(
                message, content='messages', content_rowid='id',
                tokenize='unicode61 remove_diacritics 2'
            )""",
            """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts(rowid, message) VALUES (new.id, new.message);
            END""",
            """CREATE TRIGGER messages_fts_update AFTER UPDATE OF message ON messages BEGIN
                INSERT INTO messages_fts(messages_fts, rowid, message)
                    VALUES ('delete', old.id, old.message);
                INSERT INTO messages_fts(rowid, message) VALUES (new.id, new.message);
            END""",
            """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts(messages_fts, rowid, message)
                    VALUES ('delete', old.id, old.message);
            END""",
            "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
        ),
    ),
    Migration(
        "each user's read position per channel (chat/reads/)",
        (
            # channel: the channel's id string (a conversation's too); message_id: the
            # newest message read there.
            """CREATE TABLE read_positions (
                user_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                message_id INTEGER NOT NULL,
                PRIMARY KEY (user_id, channel)
            ) WITHOUT ROWID""",
        ),
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The database's schema is one this version cannot use; the message says why."""


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def check_ownership(conn: sqlite3.Connection) -> None:
    """Refuse a database that belongs to another program."""
    app_id: int = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    if app_id != 0:
        raise SchemaError(f"it belongs to another program (application_id {app_id:#x})")
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if tables:
        raise SchemaError("it is an SQLite database of another program (no minidiscord schema)")


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``; returns the number applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration is its
    own explicit transaction.
    """
    check_ownership(conn)
    latest = len(migrations)
    current = schema_version(conn)
    if current > latest:
        raise SchemaError(
            f"it was written by a newer minidiscord (schema version {current}; this version "
            f"knows up to {latest}): upgrade minidiscord or use another database file"
        )
    for version in range(current + 1, latest + 1):
        migration = migrations[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= version:
                # Another process (a server starting, `minidiscord admin`) migrated it
                # between our read of the version and our write lock.
                conn.execute("COMMIT")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return max(0, latest - current)
