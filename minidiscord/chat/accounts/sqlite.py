"""SqliteAccounts: the AccountStore in the chat's SQLite file, on a connection of its own
(SqliteSide: why, and how it writes beside the running server's)."""

import logging
import sqlite3
from typing import Any, Final, TypeVar

import orjson

from ..clock import wall_clock_ms
from ..models import Role, User
from ..moderation.directory import Listed
from ..moderation.effects import Effect, forgotten
from ..moderation.records import Action, AuditEntry, Ban
from ..store.sidestores import SqliteSide
from .records import Account, EndReason, Invite, LoginSession
from .store import InviteRefused, NameTaken

T = TypeVar("T")
log = logging.getLogger(__name__)

_ACCOUNT_COLUMNS = "account_id, username, name_key, password_hash, role, created, user_id, user_seq"
# An outbox row is kept this long (ms): a running server reads it within a second or two;
# one started later has nothing to apply (what it reads at connect is already stored).
OUTBOX_KEEP_MS: Final = 3600 * 1000
# The most outbox rows a running server takes in one read.
OUTBOX_PAGE: Final = 500

_SESSION_COLUMNS = "session_hash, handle, account_id, created, last_used, ended, end_reason, agent"


class SqliteAccounts(SqliteSide):
    async def create_account(self, account: Account, *, invite: bytes | None = None) -> None:
        def create(conn: sqlite3.Connection) -> None:
            if invite is not None:
                used = conn.execute(
                    "DELETE FROM invites WHERE invite_hash = ? AND expires > ?",
                    (invite, account.created),
                )
                if used.rowcount != 1:
                    raise InviteRefused
            try:
                conn.execute(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _account_row(account),
                )
            except sqlite3.IntegrityError:
                raise NameTaken(account.username) from None

        await self._write(create)

    async def account_named(self, name_key: str) -> Account | None:
        rows = await self._rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name_key = ?", (name_key,)
        )
        return _account(rows[0]) if rows else None

    async def account(self, account_id: str) -> Account | None:
        rows = await self._rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?", (account_id,)
        )
        return _account(rows[0]) if rows else None

    async def link_user(self, account_id: str, user_id: str, seq: int) -> tuple[str, int]:
        def link(conn: sqlite3.Connection) -> tuple[str, int]:
            conn.execute(
                "UPDATE accounts SET user_id = ?, user_seq = ?"
                " WHERE account_id = ? AND user_id IS NULL",
                (user_id, seq, account_id),
            )
            linked, linked_seq = conn.execute(
                "SELECT user_id, user_seq FROM accounts WHERE account_id = ?", (account_id,)
            ).fetchone()
            return str(linked), int(linked_seq)

        return await self._write(link)

    async def set_password(self, account_id: str, password_hash: str) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE accounts SET password_hash = ? WHERE account_id = ?",
                (password_hash, account_id),
            )
        )

    async def add_session(self, session: LoginSession) -> None:
        await self._write(
            lambda conn: conn.execute(
                f"INSERT INTO account_sessions ({_SESSION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session.digest,
                    session.handle,
                    session.account_id,
                    session.created,
                    session.last_used,
                    session.ended,
                    None if session.end_reason is None else session.end_reason.value,
                    session.agent,
                ),
            )
        )

    async def session(self, digest: bytes) -> LoginSession | None:
        rows = await self._rows(
            f"SELECT {_SESSION_COLUMNS} FROM account_sessions WHERE session_hash = ?", (digest,)
        )
        return _session(rows[0]) if rows else None

    async def touch_session(self, digest: bytes, when: int) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE account_sessions SET last_used = ? WHERE session_hash = ?", (when, digest)
            )
        )

    async def sessions_of(self, account_id: str) -> list[LoginSession]:
        rows = await self._rows(
            f"SELECT {_SESSION_COLUMNS} FROM account_sessions WHERE account_id = ?"
            " ORDER BY created, handle",
            (account_id,),
        )
        return [_session(row) for row in rows]

    async def end_sessions(
        self,
        account_id: str,
        reason: EndReason,
        when: int,
        *,
        only: str | None = None,
        sparing: bytes | None = None,
    ) -> int:
        sql = (
            "UPDATE account_sessions SET ended = ?, end_reason = ?"
            " WHERE account_id = ? AND ended IS NULL"
        )
        params: list[Any] = [when, reason.value, account_id]
        if only is not None:
            sql += " AND handle = ?"
            params.append(only)
        if sparing is not None:
            sql += " AND session_hash != ?"
            params.append(sparing)
        return await self._write(lambda conn: conn.execute(sql, params).rowcount)

    async def forget_sessions(self, account_id: str, created_before: int) -> None:
        await self._write(
            lambda conn: conn.execute(
                "DELETE FROM account_sessions WHERE account_id = ? AND created < ?",
                (account_id, created_before),
            )
        )

    async def add_invite(self, invite: Invite) -> None:
        await self._write(
            lambda conn: conn.execute(
                "INSERT INTO invites (invite_hash, created, expires, created_by)"
                " VALUES (?, ?, ?, ?)",
                (invite.digest, invite.created, invite.expires, invite.created_by),
            )
        )

    # -- moderation --------------------------------------------------------------------

    async def account_of_user(self, user_id: str) -> Account | None:
        rows = await self._rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_id = ?", (user_id,)
        )
        return _account(rows[0]) if rows else None

    async def set_role(self, account_id: str, role: Role) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE accounts SET role = ? WHERE account_id = ?", (role.value, account_id)
            )
        )

    async def ban(self, ban: Ban) -> None:
        await self._write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO bans (subject, reason, banned_by, created)"
                " VALUES (?, ?, ?, ?)",
                (ban.subject, ban.reason, ban.banned_by, ban.created),
            )
        )

    async def unban(self, subject: str) -> bool:
        return await self._write(
            lambda conn: conn.execute("DELETE FROM bans WHERE subject = ?", (subject,)).rowcount > 0
        )

    async def ban_of(self, subject: str) -> Ban | None:
        rows = await self._rows(
            "SELECT subject, reason, banned_by, created FROM bans WHERE subject = ?", (subject,)
        )
        return Ban(*rows[0]) if rows else None

    async def add_audit(self, entry: AuditEntry) -> int:
        def add(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO audit (at, actor, action, target, reason, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.actor,
                    entry.action.value,
                    entry.target,
                    entry.reason,
                    entry.detail,
                ),
            )
            return int(cursor.lastrowid or 0)

        return await self._write(add)

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        rows = await self._rows(
            "SELECT id, at, actor, action, target, reason, detail FROM audit"
            " WHERE id < ? ORDER BY id DESC LIMIT ?",
            (2**63 - 1 if before is None else before, max(0, limit)),
        )
        return [
            AuditEntry(at, actor, Action(action), target, reason, detail, id=entry_id)
            for entry_id, at, actor, action, target, reason, detail in rows
        ]

    async def prune_audit(self, before: int, keep: int) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            old = conn.execute("DELETE FROM audit WHERE at < ?", (before,)).rowcount
            over = conn.execute(
                "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?", (keep,)
            ).rowcount
            return int(old + over)

        return await self._write(prune)

    async def set_timeout(self, user_id: str, until: int, *, now: int) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM timeouts WHERE until <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO timeouts (user_id, until) VALUES (?, ?)", (user_id, until)
            )

        await self._write(put)

    async def timeouts(self, now: int) -> dict[str, int]:
        rows = await self._rows("SELECT user_id, until FROM timeouts WHERE until > ?", (now,))
        return {user_id: until for user_id, until in rows}

    # -- the outbox: effects for the running server (moderation/effects.py, relay.py) --

    async def publish(self, effect: Effect) -> None:
        await self._write(lambda conn: _publish(conn, effect))

    async def last_effect(self) -> int:
        rows = await self._rows("SELECT coalesce(max(id), 0) FROM moderation_events", ())
        return int(rows[0][0])

    async def effects_after(self, last: int) -> list[tuple[int, Effect]]:
        """The outbox's effects after row ``last``, oldest first (a page of them)."""
        rows = await self._rows(
            "SELECT id, effect FROM moderation_events WHERE id > ? ORDER BY id LIMIT ?",
            (last, OUTBOX_PAGE),
        )
        return [(number, _effect(number, effect)) for number, effect in rows]

    # -- the chat's users, for `minidiscord admin` (moderation/directory.py) -----------

    async def listed(self) -> list[Listed]:
        rows = await self._rows(
            "SELECT seq, user_id, username, avatar, role, last_seen FROM users ORDER BY seq", ()
        )
        return [
            Listed(User(user_id, name, avatar, seq=seq, role=Role(role)), last_seen)
            for seq, user_id, name, avatar, role, last_seen in rows
        ]

    async def set_user_role(self, user_id: str, role: Role) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE users SET role = ? WHERE user_id = ?", (role.value, user_id)
            )
        )

    async def prune_guests(self, seen_before: int) -> list[User]:
        def prune(conn: sqlite3.Connection) -> list[User]:
            # One transaction (no RETURNING: SQLite 3.35). Their sessions go with them
            # (ON DELETE CASCADE); their messages stay.
            where = "WHERE role = 'guest' AND last_seen < ?"
            rows = conn.execute(
                f"SELECT seq, user_id, username, avatar FROM users {where}", (seen_before,)
            ).fetchall()
            conn.execute(f"DELETE FROM users {where}", (seen_before,))
            gone = [User(user_id, name, avatar, seq=seq) for seq, user_id, name, avatar in rows]
            if gone:
                # A running server drops them from its users list (in the same transaction).
                _publish(conn, forgotten(gone))
            return gone

        return await self._write(prune)


def _effect(number: int, raw: str) -> Effect:
    """An outbox row's effect; one that is not a JSON object (not ours: someone wrote the
    file) is logged and read as an empty effect, which nothing applies."""
    try:
        effect = orjson.loads(raw)
    except orjson.JSONDecodeError:
        effect = None
    if isinstance(effect, dict):
        return effect
    log.warning("the moderation outbox's row %d is not an effect: %.100r", number, raw)
    return {}


def _publish(conn: sqlite3.Connection, effect: Effect) -> None:
    now = wall_clock_ms()
    conn.execute("DELETE FROM moderation_events WHERE at < ?", (now - OUTBOX_KEEP_MS,))
    row = (now, orjson.dumps(effect).decode())
    conn.execute("INSERT INTO moderation_events (at, effect) VALUES (?, ?)", row)


def _account_row(account: Account) -> tuple[Any, ...]:
    return (
        account.account_id,
        account.username,
        account.name_key,
        account.password_hash,
        account.role.value,
        account.created,
        account.user_id,
        account.user_seq,
    )


def _account(row: Any) -> Account:
    account_id, username, name_key, password_hash, role, created, user_id, user_seq = row
    return Account(
        account_id, username, name_key, password_hash, Role(role), created, user_id, user_seq or 0
    )


def _session(row: Any) -> LoginSession:
    digest, handle, account_id, created, last_used, ended, end_reason, agent = row
    return LoginSession(
        bytes(digest),
        handle,
        account_id,
        created,
        last_used,
        ended,
        None if end_reason is None else EndReason(end_reason),
        agent,
    )
