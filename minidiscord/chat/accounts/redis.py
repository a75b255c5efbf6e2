"""RedisAccounts: the AccountStore on the cluster's Redis, beside the chat's keys.

Keys (P is the chat's prefix): ``P:account:ID`` HASH (the account), ``P:accountname:KEY``
the id owning a name key, ``P:login:HEX`` HASH (a login session, by the hex of its token's
digest), ``P:logins:ID`` SET of the account's session digests, ``P:invite:HEX`` HASH
(expiring with the invite), ``P:useraccount:USERID`` the account a chat user speaks for;
moderation's ``P:ban:SUBJECT`` HASH, ``P:auditseq`` and ``P:audit`` (a ZSET of JSON entries
scored by their id), ``P:timeouts`` (a ZSET of user ids scored by when their timeout
ends). Each step that must be atomic (a registration with its name
and invite, linking the chat user, ending sessions) is one Lua script. Every call is
bounded (``bounded``) and fails with the chat store's StoreReadError / StoreWriteError.
"""

import json
from collections.abc import Mapping
from typing import Any

from coredis import PureToken

from ..models import Role
from ..moderation.records import Action, AuditEntry, Ban
from ..store.sidestores import RedisSide
from .records import Account, EndReason, Invite, LoginSession
from .store import InviteRefused, NameTaken

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'taken' end
if ARGV[1] == '1' then
  local expires = redis.call('HGET', KEYS[3], 'expires')
  if not expires or tonumber(expires) <= tonumber(ARGV[2]) then return 'invite' end
  redis.call('DEL', KEYS[3])
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
return 'ok'
"""

_LINK = """
if redis.call('HSETNX', KEYS[1], 'user_id', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'user_seq', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'user_id', 'user_seq')
"""

_PRUNE_AUDIT = """
local gone = 0
while gone < tonumber(ARGV[3]) do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #oldest == 0 or tonumber(cjson.decode(oldest[1])[2]) >= tonumber(ARGV[1]) then break end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
  gone = gone + 1
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then gone = gone + redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1) end
return gone
"""
# KEYS: the audit ZSET. ARGV: made before (ms), how many to keep, the most to drop by age in
# one call (entries are in id order, which is time order: the oldest come first).

_ADD_AUDIT = """
local id = redis.call('INCR', KEYS[1])
local entry = {id, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]}
redis.call('ZADD', KEYS[2], id, cjson.encode(entry))
return id
"""

_END = """
local ended = 0
for _, hex in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. hex
  local found = redis.call('HMGET', key, 'ended', 'handle')
  if found[2] and not found[1] and hex ~= ARGV[5] and (ARGV[4] == '' or found[2] == ARGV[4]) then
    redis.call('HSET', key, 'ended', ARGV[2], 'end_reason', ARGV[3])
    ended = ended + 1
  end
end
return ended
"""


# The most audit entries one prune drops by age (one script call: Redis runs nothing else
# meanwhile); the server prunes again at its next round.
_PRUNE_AUDIT_MOST = 10_000


class RedisAccounts(RedisSide):
    # -- keys --------------------------------------------------------------------------

    def _account_key(self, account_id: str) -> str:
        return f"{self._prefix}:account:{account_id}"

    def _name_key(self, name_key: str) -> str:
        return f"{self._prefix}:accountname:{name_key}"

    def _login_key(self, digest: bytes) -> str:
        return f"{self._prefix}:login:{digest.hex()}"

    def _logins_key(self, account_id: str) -> str:
        return f"{self._prefix}:logins:{account_id}"

    def _invite_key(self, digest: bytes) -> str:
        return f"{self._prefix}:invite:{digest.hex()}"

    def _user_account_key(self, user_id: str) -> str:
        return f"{self._prefix}:useraccount:{user_id}"

    def _timeouts_key(self) -> str:
        return f"{self._prefix}:timeouts"

    def _ban_key(self, subject: str) -> str:
        return f"{self._prefix}:ban:{subject}"

    # -- accounts ----------------------------------------------------------------------

    async def create_account(self, account: Account, *, invite: bytes | None = None) -> None:
        fields = _account_fields(account)
        args: list[Any] = ["1" if invite is not None else "0", account.created, account.account_id]
        for name, value in fields.items():
            args += [name, value]
        async with self._call("create an account", write=True) as client:
            outcome: Any = await client.register_script(_CREATE)(
                [
                    self._name_key(account.name_key),
                    self._account_key(account.account_id),
                    self._invite_key(invite or b""),
                ],
                args,
            )
        if outcome == b"taken":
            raise NameTaken(account.username)
        if outcome == b"invite":
            raise InviteRefused

    async def account_named(self, name_key: str) -> Account | None:
        async with self._call("find an account", write=False) as client:
            account_id = await client.get(self._name_key(name_key))
        return None if account_id is None else await self.account(account_id.decode())

    async def account(self, account_id: str) -> Account | None:
        async with self._call("read an account", write=False) as client:
            fields = await client.hgetall(self._account_key(account_id))
        return _account(account_id, fields) if fields else None

    async def link_user(self, account_id: str, user_id: str, seq: int) -> tuple[str, int]:
        async with self._call("link an account's user", write=True) as client:
            found: Any = await client.register_script(_LINK)(
                [self._account_key(account_id), self._user_account_key(user_id)],
                [user_id, seq, account_id],
            )
        linked, linked_seq = found
        return linked.decode(), int(linked_seq)

    async def set_password(self, account_id: str, password_hash: str) -> None:
        async with self._call("set a password", write=True) as client:
            await client.hset(self._account_key(account_id), {"password_hash": password_hash})

    # -- sessions ----------------------------------------------------------------------

    async def add_session(self, session: LoginSession) -> None:
        fields: dict[str, Any] = {
            "handle": session.handle,
            "account_id": session.account_id,
            "created": session.created,
            "last_used": session.last_used,
            "agent": session.agent,
        }
        if session.ended is not None and session.end_reason is not None:
            fields |= {"ended": session.ended, "end_reason": session.end_reason.value}
        async with (
            self._call("add a login session", write=True) as client,
            client.pipeline(transaction=True) as pipe,
        ):
            replies = [
                pipe.hset(self._login_key(session.digest), fields),
                pipe.sadd(self._logins_key(session.account_id), [session.digest.hex()]),
            ]
        for reply in replies:
            await reply

    async def session(self, digest: bytes) -> LoginSession | None:
        async with self._call("read a login session", write=False) as client:
            fields = await client.hgetall(self._login_key(digest))
        return _session(digest, fields) if fields else None

    async def touch_session(self, digest: bytes, when: int) -> None:
        async with self._call("note a session's use", write=True) as client:
            # Only an existing session: a forgotten one must not come back as a stub.
            if await client.exists([self._login_key(digest)]):
                await client.hset(self._login_key(digest), {"last_used": when})

    async def sessions_of(self, account_id: str) -> list[LoginSession]:
        async with self._call("list login sessions", write=False) as client:
            members = await client.smembers(self._logins_key(account_id))
            digests = [bytes.fromhex(member.decode()) for member in members]
            found = [(d, await client.hgetall(self._login_key(d))) for d in digests]
        sessions = [_session(d, fields) for d, fields in found if fields]
        return sorted(sessions, key=lambda s: (s.created, s.handle))

    async def end_sessions(
        self,
        account_id: str,
        reason: EndReason,
        when: int,
        *,
        only: str | None = None,
        sparing: bytes | None = None,
    ) -> int:
        async with self._call("end login sessions", write=True) as client:
            ended: Any = await client.register_script(_END)(
                [self._logins_key(account_id)],
                [
                    f"{self._prefix}:login:",
                    when,
                    reason.value,
                    only or "",
                    "" if sparing is None else sparing.hex(),
                ],
            )
        return int(ended)

    async def forget_sessions(self, account_id: str, created_before: int) -> None:
        old = [s for s in await self.sessions_of(account_id) if s.created < created_before]
        if not old:
            return
        async with self._call("forget old login sessions", write=True) as client:
            await client.delete([self._login_key(s.digest) for s in old])
            await client.srem(self._logins_key(account_id), [s.digest.hex() for s in old])

    async def add_invite(self, invite: Invite) -> None:
        key = self._invite_key(invite.digest)
        fields: dict[str, Any] = {
            "created": invite.created,
            "expires": invite.expires,
            "created_by": invite.created_by,
        }
        async with (
            self._call("add an invite", write=True) as client,
            client.pipeline(transaction=True) as pipe,
        ):
            replies = [pipe.hset(key, fields), pipe.pexpireat(key, invite.expires)]
        for reply in replies:
            await reply

    # -- moderation --------------------------------------------------------------------

    async def account_of_user(self, user_id: str) -> Account | None:
        async with self._call("find a user's account", write=False) as client:
            account_id = await client.get(self._user_account_key(user_id))
        return None if account_id is None else await self.account(account_id.decode())

    async def set_role(self, account_id: str, role: Role) -> None:
        # The chat user's JSON keeps the role it was made with: an account's user is built
        # from the account at each connect, and the `users` list mirrors who is online.
        async with self._call("set a role", write=True) as client:
            if await client.exists([self._account_key(account_id)]):
                await client.hset(self._account_key(account_id), {"role": role.value})

    async def ban(self, ban: Ban) -> None:
        fields: dict[str, Any] = {
            "reason": ban.reason,
            "banned_by": ban.banned_by,
            "created": ban.created,
        }
        async with self._call("ban", write=True) as client:
            await client.hset(self._ban_key(ban.subject), fields)

    async def unban(self, subject: str) -> bool:
        async with self._call("unban", write=True) as client:
            return bool(await client.delete([self._ban_key(subject)]))

    async def ban_of(self, subject: str) -> Ban | None:
        async with self._call("read a ban", write=False) as client:
            fields = await client.hgetall(self._ban_key(subject))
        if not fields:
            return None
        return Ban(
            subject,
            _text(fields, "reason") or "",
            _text(fields, "banned_by") or "",
            int(_text(fields, "created") or 0),
        )

    async def add_audit(self, entry: AuditEntry) -> int:
        async with self._call("write the audit log", write=True) as client:
            entry_id: Any = await client.register_script(_ADD_AUDIT)(
                [f"{self._prefix}:auditseq", f"{self._prefix}:audit"],
                [
                    entry.at,
                    entry.actor,
                    entry.action.value,
                    entry.target,
                    entry.reason,
                    entry.detail,
                ],
            )
        return int(entry_id)

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        if limit <= 0:
            return []
        top: int | str = "+inf" if before is None else before - 1
        async with self._call("read the audit log", write=False) as client:
            # With rev, the range is given from its top.
            found = await client.zrange(
                f"{self._prefix}:audit",
                top,
                0,
                sortby=PureToken.BYSCORE,
                rev=True,
                offset=0,
                count=limit,
            )
        entries = []
        for raw in found:
            assert isinstance(raw, bytes)  # no scores asked for
            entry_id, at, actor, action, target, reason, detail = json.loads(raw)
            entries.append(
                AuditEntry(int(at), actor, Action(action), target, reason, detail, id=entry_id)
            )
        return entries

    async def prune_audit(self, before: int, keep: int) -> int:
        async with self._call("prune the audit log", write=True) as client:
            gone: Any = await client.register_script(_PRUNE_AUDIT)(
                [f"{self._prefix}:audit"], [before, keep, _PRUNE_AUDIT_MOST]
            )
        return int(gone)

    async def set_timeout(self, user_id: str, until: int, *, now: int) -> None:
        key = self._timeouts_key()
        async with (
            self._call("store a timeout", write=True) as client,
            client.pipeline(transaction=True) as pipe,
        ):
            replies = [
                pipe.zremrangebyscore(key, float("-inf"), now),
                pipe.zadd(key, {user_id: until}),
            ]
        for reply in replies:
            await reply

    async def timeouts(self, now: int) -> dict[str, int]:
        async with self._call("read the timeouts", write=False) as client:
            found = await client.zrange(
                self._timeouts_key(), f"({now}", "+inf", sortby=PureToken.BYSCORE, withscores=True
            )
        return {_decoded(member): int(score) for member, score in found}


def _account_fields(account: Account) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "username": account.username,
        "name_key": account.name_key,
        "password_hash": account.password_hash,
        "role": account.role.value,
        "created": account.created,
    }
    if account.user_id is not None:
        fields |= {"user_id": account.user_id, "user_seq": account.user_seq}
    return fields


def _text(fields: Mapping[bytes, bytes], name: str) -> str | None:
    value = fields.get(name.encode())
    return None if value is None else value.decode()


def _account(account_id: str, fields: Mapping[bytes, bytes]) -> Account:
    return Account(
        account_id,
        _text(fields, "username") or "",
        _text(fields, "name_key") or "",
        _text(fields, "password_hash") or "",
        Role(_text(fields, "role") or Role.MEMBER),
        int(_text(fields, "created") or 0),
        _text(fields, "user_id"),
        int(_text(fields, "user_seq") or 0),
    )


def _session(digest: bytes, fields: Mapping[bytes, bytes]) -> LoginSession:
    ended = _text(fields, "ended")
    reason = _text(fields, "end_reason")
    return LoginSession(
        digest,
        _text(fields, "handle") or "",
        _text(fields, "account_id") or "",
        int(_text(fields, "created") or 0),
        int(_text(fields, "last_used") or 0),
        None if ended is None else int(ended),
        None if reason is None else EndReason(reason),
        _text(fields, "agent") or "",
    )


def _decoded(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode()
