"""The admin view's events on the chat's "/" namespace (additive, acked ``{ok, ...}``):

    admin:users           {search?, limit?}  admin: {ok, total, users: [{userId, username,
                                             role, online, lastSeen, banned}]}
    user:revoke-sessions  {userId}           admin: {ok, ended}; the user's tabs let go
    admin:invite          {}                 admin: {ok, code, expires} (ms; one use)
    admin:prune-guests    {days}             admin: {ok, removed}; the pruned guests leave
                                             every connected client's users list

What `minidiscord admin users`, `revoke-sessions`, `invite` and `prune-guests` do, for the
web client's admin view, through the same rules and the same calls (Moderation) and the
same listing (Directory). ``banned`` is the ban's reason, or null.
"""

from typing import Any

from minidiscord.sockets import Socket

from ..models import Role
from ..requests import Ack, Handler
from .directory import Directory, matching
from .events import ChatSide, ModerationEvents
from .service import Moderation, ModerationError, Person

# One page of the admin view's list; a search narrows it.
MAX_LISTED = 100
MAX_SEARCH = 64


class AdminEvents(ModerationEvents):
    """Only the admin view's events (ModerationEvents gives the guard that refuses bad
    input and non-admins alike with an ack)."""

    def __init__(self, chat: ChatSide, moderation: Moderation, directory: Directory) -> None:
        super().__init__(chat, moderation)
        self._directory = directory

    def handlers(self) -> dict[str, Handler]:
        return self._guarded(
            {
                "admin:users": self._users,
                "user:revoke-sessions": self._revoke_sessions,
                "admin:invite": self._invite,
                "admin:prune-guests": self._prune_guests,
            }
        )

    async def _users(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        self._moderation.check(actor, Role.ADMIN)
        search = fields.get("search")
        if search is not None and (not isinstance(search, str) or len(search) > MAX_SEARCH):
            raise ModerationError(f"search must be a string of at most {MAX_SEARCH} characters")
        limit = fields.get("limit", MAX_LISTED)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ModerationError("limit must be a positive integer")
        found = matching(await self._directory.listed(), (search or "").strip())
        online = self._chat.online_users()
        users = []
        for entry in found[: min(limit, MAX_LISTED)]:
            user = entry.user
            person = await self._moderation.person(user.user_id, user.username, user.role)
            ban = await self._moderation.banned(person.subject)
            users.append(
                {
                    "userId": user.user_id,
                    "username": user.username,
                    "role": person.role.value,
                    "online": user.user_id in online,
                    "lastSeen": entry.last_seen,
                    "banned": None if ban is None else ban.reason,
                }
            )
        return {"ok": True, "total": len(found), "users": users}

    async def _revoke_sessions(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        target = await self._target(fields)
        ended = await self._moderation.revoke_sessions(actor, target)
        return {"ok": True, "ended": ended}

    async def _invite(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        code, invite = await self._moderation.make_invite(actor)
        return {"ok": True, "code": code, "expires": invite.expires}

    async def _prune_guests(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        gone = await self._moderation.prune_guests(actor, self._directory, fields.get("days"))
        await self._chat.forget_users(gone)
        return {"ok": True, "removed": len(gone)}
