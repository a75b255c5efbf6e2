"""Moderation: who may act on whom, bans, roles, and the audit log, on the AccountStore.

The chat's handlers and `minidiscord admin` both come here, so the rules are in one place:

- moderating (deleting a message, timing out, kicking, banning, unbanning) needs the
  moderator role; managing roles needs admin;
- a person acts only on someone of a lower role (a moderator on members and guests, an admin
  also on moderators): a moderator cannot silence another moderator or an admin, and no
  admin can lock another out. Deleting a message is the exception: any message, since
  what a channel shows is what moderation is for, whoever wrote it (and it is audited);
- nobody acts on themselves; a moderator lifts only its own bans;
- the operator at the command line (``OPERATOR``) may do everything: it already holds the
  database.

An actor's role is read from the store at each action (not taken from the socket's
connect-time user), so a demotion by the command line or another node applies at once.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeGuard

from ..accounts.records import Account, EndReason, Invite
from ..accounts.service import AccountError, Accounts, store_read, store_write
from ..clock import wall_clock_ms
from ..models import Role, User
from .directory import Directory
from .records import Action, AuditEntry, Ban

log = logging.getLogger(__name__)

# A reason is shown to the banned user and kept in the log: a sentence, not an essay.
MAX_REASON: Final = 500
# The longest timeout a moderator may give (a longer silence is a ban).
MAX_TIMEOUT_SECONDS: Final = 28 * 24 * 3600
MAX_AUDIT_PAGE: Final = 100
DAY_MS: Final = 24 * 3600 * 1000
# Pruning guests unseen for longer than ten years is pruning none: a typo, most likely.
MAX_PRUNE_DAYS: Final = 3650
# The audit log keeps a year, and at most this many entries (a few tens of MB at most).
DEFAULT_AUDIT_DAYS: Final = 365
DEFAULT_AUDIT_ENTRIES: Final = 100_000
# Hex digits of an invite's digest the audit log names it by (48 bits: unique among the
# invites a server makes, and nothing to guess the code from).
INVITE_LABEL_HEX: Final = 12


@dataclass(frozen=True, slots=True)
class AuditRetention:
    """How much of the audit log is kept: entries younger than ``days`` days, at most the
    newest ``entries`` of them."""

    days: int = DEFAULT_AUDIT_DAYS
    entries: int = DEFAULT_AUDIT_ENTRIES


class ModerationError(Exception):
    """A refused moderation request: ``message`` is for whoever asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Person:
    """Someone moderation acts as or on: a chat user (with its account, if any), or the
    operator. ``role`` is as the store holds it now."""

    name: str
    role: Role
    user_id: str | None = None
    account: Account | None = None

    @property
    def subject(self) -> str:
        """What a ban of this person is kept under: the account, else the guest's user."""
        if self.account is not None:
            return self.account.account_id
        assert self.user_id is not None
        return self.user_id

    def label(self) -> str:
        """How the audit log names them: the name, and the id that stays when it changes."""
        if self.user_id is None:
            return self.name
        return f"{self.name} ({self.role.value} {self.user_id})"


OPERATOR: Final = Person("operator (command line)", Role.ADMIN)


class Moderation:
    def __init__(self, accounts: Accounts, *, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.accounts = accounts
        self._store = accounts.store
        # Wall-clock ms: when things were done, when timeouts end.
        self.clock = clock

    # -- who is who --------------------------------------------------------------------

    async def person(self, user_id: str, name: str, fallback: Role) -> Person:
        """The chat user ``user_id`` as moderation sees it now: with its account's current
        role, or ``fallback`` (a guest's) when it has none."""
        account = await store_read(self._store.account_of_user(user_id))
        if account is None:
            return Person(name, fallback, user_id)
        return Person(account.username, account.role, user_id, account)

    async def account_named(self, username: str) -> Person:
        """An account by name (the command line's way of naming someone)."""
        account = await self.accounts.owner_of(username)
        if account is None:
            raise ModerationError(f"no account is named {username!r}")
        return Person(account.username, account.role, account.user_id, account)

    # -- the rules ---------------------------------------------------------------------

    def check(self, actor: Person, needed: Role, target: Person | None = None) -> None:
        if actor is OPERATOR:
            return
        if not actor.role.may(needed):
            raise ModerationError(
                "only an admin may do that"
                if needed is Role.ADMIN
                else f"only a {needed.value} or an admin may do that"
            )
        if target is None:
            return
        if target.user_id is not None and target.user_id == actor.user_id:
            raise ModerationError("you cannot do that to yourself")
        if target.role.rank >= actor.role.rank:
            raise ModerationError(f"a {actor.role.value} cannot act on a {target.role.value}")

    # -- actions -----------------------------------------------------------------------

    async def ban(self, actor: Person, target: Person, reason: object) -> Ban:
        self.check(actor, Role.MODERATOR, target)
        why = checked_reason(reason, required=True)
        ban = Ban(target.subject, why, actor.name, self.clock())
        await store_write(self._store.ban(ban))
        if target.account is not None:
            # Its sockets on this server go now (the sessions' listeners); a banned account
            # cannot log in again or use a session it kept.
            await self.accounts.end_all(target.account.account_id, EndReason.REVOKED_BY_ADMIN)
        await self.record(actor, Action.BAN, target, why)
        return ban

    async def unban(self, actor: Person, target: Person, reason: object = "") -> None:
        self.check(actor, Role.MODERATOR, target)
        why = checked_reason(reason, required=False)
        ban = await store_read(self._store.ban_of(target.subject))
        if ban is None:
            raise ModerationError(f"{target.name!r} is not banned")
        if actor is not OPERATOR and actor.role is Role.MODERATOR and ban.banned_by != actor.name:
            # Else any moderator could undo an admin's (or another moderator's) ban.
            raise ModerationError(f"only an admin may lift a ban by {ban.banned_by}")
        if not await store_write(self._store.unban(target.subject)):
            raise ModerationError(f"{target.name!r} is not banned")
        await self.record(actor, Action.UNBAN, target, why)

    async def set_role(self, actor: Person, target: Person, role: object) -> Role:
        if not isinstance(role, str) or role not in {r.value for r in Role} - {"guest"}:
            raise ModerationError("role must be one of admin, moderator, member")
        new = Role(role)
        self.check(actor, Role.ADMIN, target)
        if target.account is None:
            raise ModerationError("a guest has no account: only accounts hold roles")
        await store_write(self._store.set_role(target.account.account_id, new))
        await self.record(actor, Action.SET_ROLE, target, detail=f"{target.role.value} -> {new}")
        return new

    async def revoke_sessions(self, actor: Person, target: Person) -> int:
        self.check(actor, Role.ADMIN, target)
        if target.account is None:
            raise ModerationError("a guest has no login sessions")
        ended = await self.accounts.end_all(target.account.account_id, EndReason.REVOKED_BY_ADMIN)
        await self.record(actor, Action.REVOKE_SESSIONS, target, detail=f"{ended} ended")
        return ended

    async def make_invite(self, actor: Person) -> tuple[str, Invite]:
        """A registration invite code (one use, ``INVITE_SECONDS``), made by an admin."""
        self.check(actor, Role.ADMIN)
        made_by = "cli" if actor.account is None else actor.account.account_id
        code, invite = await self.accounts.create_invite(made_by)
        await self.record(
            actor, Action.MAKE_INVITE, invite_label(invite), detail=f"expires {invite.expires} ms"
        )
        return code, invite

    async def prune_guests(self, actor: Person, directory: Directory, days: object) -> list[User]:
        """Remove the guests not seen for ``days`` days from the chat's users; returns who
        went (the caller makes running servers drop them: Directory says how)."""
        self.check(actor, Role.ADMIN)
        if not _is_int(days) or not 1 <= days <= MAX_PRUNE_DAYS:
            raise ModerationError(f"days must be a whole number from 1 to {MAX_PRUNE_DAYS}")
        gone = await directory.prune_guests(self.clock() - days * DAY_MS)
        await self.record(
            actor, Action.PRUNE_GUESTS, f"{len(gone)} guests", detail=f"not seen for {days} days"
        )
        return gone

    async def time_out(self, user_id: str, until: int) -> None:
        """Keep the timeout (a restart and every node see it); the chat applies it."""
        await store_write(self._store.set_timeout(user_id, until, now=self.clock()))

    async def timeouts(self) -> dict[str, int]:
        """The timeouts not over yet (user id -> until, ms)."""
        return await store_read(self._store.timeouts(self.clock()))

    async def prune_audit(self, retention: AuditRetention) -> int:
        """Drop the audit entries past the retention; returns how many went."""
        before = self.clock() - retention.days * DAY_MS
        gone = await store_write(self._store.prune_audit(before, retention.entries))
        if gone:
            log.info(
                "pruned %d audit entries (older than %d days, or past the newest %d)",
                gone,
                retention.days,
                retention.entries,
            )
        return gone

    async def banned(self, subject: str) -> Ban | None:
        return await store_read(self._store.ban_of(subject))

    async def record(
        self,
        actor: Person,
        action: Action,
        target: Person | str,
        reason: str = "",
        detail: str = "",
    ) -> None:
        entry = AuditEntry(
            self.clock(),
            actor.label(),
            action,
            target if isinstance(target, str) else target.label(),
            reason,
            detail,
        )
        await store_write(self._store.add_audit(entry))
        log.info("moderation: %s: %s -> %s %s", entry.action, entry.actor, entry.target, detail)

    async def audit(self, actor: Person, before: object, limit: object) -> list[AuditEntry]:
        self.check(actor, Role.ADMIN)
        if before is not None and (not _is_int(before) or before < 1):
            raise ModerationError("before must be an audit entry's id")
        if not _is_int(limit) or limit < 1:
            raise ModerationError("limit must be a positive integer")
        return await store_read(self._store.audit(before, min(limit, MAX_AUDIT_PAGE)))


def checked_reason(raw: object, *, required: bool) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str):
        raise ModerationError("reason must be a string")
    reason = raw.strip()
    if required and not reason:
        raise ModerationError("give a reason")
    if len(reason) > MAX_REASON:
        raise ModerationError(f"a reason has at most {MAX_REASON} characters")
    return reason


def invite_label(invite: Invite) -> str:
    """How the audit log names an invite: the code is a secret (the store keeps only its
    SHA-256), so by the start of that digest, which finds it among the stored invites and
    says nothing of the code."""
    return f"invite {invite.digest.hex()[:INVITE_LABEL_HEX]}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["OPERATOR", "AccountError", "Moderation", "ModerationError", "Person"]
