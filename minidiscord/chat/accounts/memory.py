"""MemoryAccounts: the AccountStore in dicts (the memory chat store's companion)."""

import dataclasses

import trio

from ..models import Role
from ..moderation.records import AuditEntry, Ban
from .records import Account, EndReason, Invite, LoginSession
from .store import InviteRefused, NameTaken


class MemoryAccounts:
    """No method awaits before it is done, so each is atomic among trio tasks."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._by_key: dict[str, str] = {}
        self._sessions: dict[bytes, LoginSession] = {}
        self._invites: dict[bytes, Invite] = {}
        self._bans: dict[str, Ban] = {}
        self._audit: list[AuditEntry] = []
        self._audit_seq = 0
        self._timeouts: dict[str, int] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def close(self) -> None:
        pass

    async def create_account(self, account: Account, *, invite: bytes | None = None) -> None:
        if account.name_key in self._by_key:
            raise NameTaken(account.username)
        if invite is not None:
            found = self._invites.get(invite)
            if found is None or found.expires <= account.created:
                raise InviteRefused
            del self._invites[invite]
        self._accounts[account.account_id] = account
        self._by_key[account.name_key] = account.account_id

    async def account_named(self, name_key: str) -> Account | None:
        account_id = self._by_key.get(name_key)
        return None if account_id is None else self._accounts[account_id]

    async def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    async def link_user(self, account_id: str, user_id: str, seq: int) -> tuple[str, int]:
        account = self._accounts[account_id]
        if account.user_id is None:
            account = self._accounts[account_id] = dataclasses.replace(
                account, user_id=user_id, user_seq=seq
            )
        assert account.user_id is not None
        return account.user_id, account.user_seq

    async def set_password(self, account_id: str, password_hash: str) -> None:
        account = self._accounts[account_id]
        self._accounts[account_id] = dataclasses.replace(account, password_hash=password_hash)

    async def add_session(self, session: LoginSession) -> None:
        self._sessions[session.digest] = session

    async def session(self, digest: bytes) -> LoginSession | None:
        return self._sessions.get(digest)

    async def touch_session(self, digest: bytes, when: int) -> None:
        session = self._sessions.get(digest)
        if session is not None:
            self._sessions[digest] = dataclasses.replace(session, last_used=when)

    async def sessions_of(self, account_id: str) -> list[LoginSession]:
        owned = [s for s in self._sessions.values() if s.account_id == account_id]
        return sorted(owned, key=lambda s: s.created)

    async def end_sessions(
        self,
        account_id: str,
        reason: EndReason,
        when: int,
        *,
        only: str | None = None,
        sparing: bytes | None = None,
    ) -> int:
        ended = 0
        for key, session in list(self._sessions.items()):
            if session.account_id != account_id or session.ended is not None:
                continue
            if (only is not None and session.handle != only) or key == sparing:
                continue
            self._sessions[key] = session.ending(reason, when)
            ended += 1
        return ended

    async def forget_sessions(self, account_id: str, created_before: int) -> None:
        for key, session in list(self._sessions.items()):
            if session.account_id == account_id and session.created < created_before:
                del self._sessions[key]

    async def add_invite(self, invite: Invite) -> None:
        self._invites[invite.digest] = invite

    async def account_of_user(self, user_id: str) -> Account | None:
        return next((a for a in self._accounts.values() if a.user_id == user_id), None)

    async def set_role(self, account_id: str, role: Role) -> None:
        # The memory chat store's users are the server's own: it updates them itself.
        account = self._accounts.get(account_id)
        if account is not None:
            self._accounts[account_id] = dataclasses.replace(account, role=role)

    async def ban(self, ban: Ban) -> None:
        self._bans[ban.subject] = ban

    async def unban(self, subject: str) -> bool:
        return self._bans.pop(subject, None) is not None

    async def ban_of(self, subject: str) -> Ban | None:
        return self._bans.get(subject)

    async def add_audit(self, entry: AuditEntry) -> int:
        self._audit_seq += 1
        numbered = dataclasses.replace(entry, id=self._audit_seq)
        self._audit.append(numbered)
        return numbered.id

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        older = [e for e in self._audit if before is None or e.id < before]
        return older[max(0, len(older) - limit) :][::-1] if limit > 0 else []

    async def prune_audit(self, before: int, keep: int) -> int:
        kept = [e for e in self._audit if e.at >= before and e.id > self._audit_seq - keep]
        gone = len(self._audit) - len(kept)
        self._audit = kept
        return gone

    async def set_timeout(self, user_id: str, until: int, *, now: int) -> None:
        self._timeouts = {u: t for u, t in self._timeouts.items() if t > now}
        self._timeouts[user_id] = until

    async def timeouts(self, now: int) -> dict[str, int]:
        return {u: t for u, t in self._timeouts.items() if t > now}
