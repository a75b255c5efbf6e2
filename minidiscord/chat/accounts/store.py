"""The AccountStore protocol: accounts, login sessions and invites, whatever the backend.

Kept apart from the chat's Store: accounts change seldom (registrations, logins) while
messages stream, and `minidiscord admin` must reach them while a server runs (the SQLite
chat store holds its file's lock; the account store uses its own connection).
"""

from typing import Protocol

import trio

from ..models import Role
from ..moderation.records import AuditEntry, Ban
from .records import Account, EndReason, Invite, LoginSession


class NameTaken(Exception):
    """An account already has this name (or one that looks the same)."""


class InviteRefused(Exception):
    """The invite code is unknown, used or expired."""


class AccountStore(Protocol):
    """Contract every backend keeps:

    - account names are unique by ``name_key``: of two concurrent registrations of one
      key, exactly one succeeds;
    - an invite is used at most once, in the same atomic step as the account it admits;
    - tokens and invite codes are kept only as their digests; nothing here logs them;
    - audit entries are numbered in the order they were added, and never changed.

    Moderation's records (bans, the audit log) live here too: what an account may do is
    decided here, and `minidiscord admin` reaches this store while a server runs.
    """

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until ``close`` (start with ``nursery.start``)."""
        ...

    async def close(self) -> None: ...

    async def create_account(self, account: Account, *, invite: bytes | None = None) -> None:
        """Store a new account; with ``invite`` (a digest), use that invite up. Raises
        NameTaken, or InviteRefused (an unknown invite, or one expired at ``created``)."""
        ...

    async def account_named(self, name_key: str) -> Account | None: ...

    async def account(self, account_id: str) -> Account | None: ...

    async def link_user(self, account_id: str, user_id: str, seq: int) -> tuple[str, int]:
        """Make ``user_id`` the account's chat user unless it has one; returns the one it
        has now (of two first connects at once, the other one's user may win)."""
        ...

    async def set_password(self, account_id: str, password_hash: str) -> None: ...

    async def add_session(self, session: LoginSession) -> None: ...

    async def session(self, digest: bytes) -> LoginSession | None: ...

    async def touch_session(self, digest: bytes, when: int) -> None:
        """Note a use of the session (for its idle lifetime)."""
        ...

    async def sessions_of(self, account_id: str) -> list[LoginSession]:
        """Every session of the account still kept (ended ones too), oldest first."""
        ...

    async def end_sessions(
        self,
        account_id: str,
        reason: EndReason,
        when: int,
        *,
        only: str | None = None,
        sparing: bytes | None = None,
    ) -> int:
        """End the account's active sessions (only the one with handle ``only``, or all
        but the one with digest ``sparing``); returns how many ended."""
        ...

    async def forget_sessions(self, account_id: str, created_before: int) -> None:
        """Drop the records of the account's sessions made before that time (ms)."""
        ...

    async def add_invite(self, invite: Invite) -> None: ...

    # -- moderation ----------------------------------------------------------------------

    async def account_of_user(self, user_id: str) -> Account | None:
        """The account whose chat user this is (None: a guest's, or unknown)."""
        ...

    async def set_role(self, account_id: str, role: Role) -> None:
        """The account's role (its chat user's stored one is the chat store's: the server
        sets it through ``Store.set_role``, the command line through its Directory)."""
        ...

    async def ban(self, ban: Ban) -> None:
        """Ban ``ban.subject`` (a ban already there is replaced: its reason changes)."""
        ...

    async def unban(self, subject: str) -> bool:
        """False if it was not banned."""
        ...

    async def ban_of(self, subject: str) -> Ban | None: ...

    async def add_audit(self, entry: AuditEntry) -> int:
        """Append to the audit log; returns the entry's id."""
        ...

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries with ids below ``before`` (all when None), newest first."""
        ...

    async def prune_audit(self, before: int, keep: int) -> int:
        """Drop the entries made before ``before`` (ms) and all but the newest ``keep``;
        returns how many went."""
        ...

    async def set_timeout(self, user_id: str, until: int, *, now: int) -> None:
        """The user may not send until ``until`` (ms; replacing a timeout it had). Timeouts
        over by ``now`` are dropped."""
        ...

    async def timeouts(self, now: int) -> dict[str, int]:
        """Every timeout not over by ``now`` (ms): user id -> until."""
        ...
