"""The moderation events of the chat's "/" namespace (all additive, all acked ``{ok, ...}``):

    message:delete  {channel, id}            moderator: everyone in the channel gets
                                             `message:delete` {channel, id}
    user:timeout    {userId, seconds, reason?}  moderator: the user cannot send until then
    user:kick       {userId, reason?}        moderator: every tab let go (may come back)
    user:ban        {userId, reason}         moderator: let go, and refused from now on
    user:unban      {userId, reason?}        moderator
    user:role       {userId, role}           admin: everyone gets `user:role` {userId, role}
    audit:list      {before?, limit?}        admin: {ok, entries} newest first

Whoever asks is the socket's user as the server identified it at connect; the role that
decides is read from the store at each request (Moderation). Nothing here trusts a role or
a name the client sends.
"""

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from minidiscord.sockets import Socket

from ..models import Role, User
from ..requests import Ack, Handler, Request, guarded
from ..validation import Invalid
from .records import Action
from .service import (
    MAX_TIMEOUT_SECONDS,
    Moderation,
    ModerationError,
    Person,
    checked_reason,
)

log = logging.getLogger(__name__)

# A moderation event's request, for whom the moderation store says the asker is.
ModerationRequest = Callable[[Socket, Person, dict[str, Any]], Awaitable[Ack]]


class ChatSide(Protocol):
    """What these events need of the chat server: each effect reaches every tab of the
    user, on every node in cluster mode."""

    def online_users(self) -> Mapping[str, User]: ...

    def readable(self, user_id: str, channel: object) -> str:
        """The channel id if the user may read it (the one access check), else Invalid."""
        ...

    async def delete_message(self, channel: str, message_id: int) -> bool: ...

    async def kick(self, user_id: str) -> None: ...

    async def time_out(self, user_id: str, until: int) -> None: ...

    async def set_role(self, user_id: str, role: Role) -> None: ...

    async def forget_users(self, users: list[User]) -> None:
        """Users removed from the store (pruned guests) leave every users list."""
        ...


class ModerationEvents:
    def __init__(self, chat: ChatSide, moderation: Moderation) -> None:
        self._chat = chat
        self._moderation = moderation

    def handlers(self) -> dict[str, Handler]:
        return self._guarded(
            {
                "message:delete": self._delete,
                "user:timeout": self._timeout,
                "user:kick": self._kick,
                "user:ban": self._ban,
                "user:unban": self._unban,
                "user:role": self._role,
                "audit:list": self._audit,
            }
        )

    def _guarded(self, requests: dict[str, ModerationRequest]) -> dict[str, Handler]:
        """Each request run for a joined user with one object argument (the one guard,
        requests.py), as whom the moderation store says the user is now."""
        return {
            event: guarded(event, self._as_person(request)) for event, request in requests.items()
        }

    def _as_person(self, request: ModerationRequest) -> Request:
        async def as_person(socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
            actor = await self._moderation.person(user.user_id, user.username, user.role)
            return await request(socket, actor, fields)

        return as_person

    async def _target(self, fields: dict[str, Any]) -> Person:
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise ModerationError("userId must be a user's id")
        online = self._chat.online_users().get(user_id)
        person = await self._moderation.person(
            user_id, "" if online is None else online.username, Role.GUEST
        )
        if person.account is None and online is None:
            # A guest is known here only while online (the command line reaches the rest).
            raise ModerationError("no such user online")
        return person

    # -- the events --------------------------------------------------------------------

    async def _delete(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        self._moderation.check(actor, Role.MODERATOR)
        try:
            # Any channel the moderator may read: not a conversation of others.
            channel = self._chat.readable(actor.user_id or "", fields.get("channel"))
        except Invalid as error:
            raise ModerationError(error.reason) from None
        message_id = fields.get("id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ModerationError("id must be a message's id")
        if not await self._chat.delete_message(channel, message_id):
            raise ModerationError(f"there is no message {message_id} in {channel}")
        await self._moderation.record(
            actor,
            Action.DELETE_MESSAGE,
            f"message {message_id} in {channel}",
            checked_reason(fields.get("reason"), required=False),
        )
        return {"ok": True}

    async def _timeout(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        target = await self._target(fields)
        self._moderation.check(actor, Role.MODERATOR, target)
        seconds = fields.get("seconds")
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not 0 < seconds <= MAX_TIMEOUT_SECONDS
        ):
            raise ModerationError(f"seconds must be a number from 1 to {MAX_TIMEOUT_SECONDS}")
        reason = checked_reason(fields.get("reason"), required=False)
        assert target.user_id is not None
        until = self._moderation.clock() + math.ceil(seconds * 1000)
        await self._moderation.time_out(target.user_id, until)
        await self._chat.time_out(target.user_id, until)
        await self._moderation.record(
            actor, Action.TIMEOUT, target, reason, detail=f"{seconds:g} s, until {until} ms"
        )
        return {"ok": True, "until": until}

    async def _kick(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        target = await self._target(fields)
        self._moderation.check(actor, Role.MODERATOR, target)
        reason = checked_reason(fields.get("reason"), required=False)
        assert target.user_id is not None
        await self._chat.kick(target.user_id)
        await self._moderation.record(actor, Action.KICK, target, reason)
        return {"ok": True}

    async def _ban(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        target = await self._target(fields)
        ban = await self._moderation.ban(actor, target, fields.get("reason"))
        assert target.user_id is not None
        # An account's sessions ended (which lets its sockets on this node go); every tab
        # of the user goes, on every node.
        await self._chat.kick(target.user_id)
        return {"ok": True, "reason": ban.reason}

    async def _unban(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise ModerationError("userId must be a user's id")
        # A banned guest is offline: it is named by its id alone.
        target = await self._moderation.person(user_id, user_id, Role.GUEST)
        await self._moderation.unban(actor, target, fields.get("reason"))
        return {"ok": True}

    async def _role(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        target = await self._target(fields)
        role = await self._moderation.set_role(actor, target, fields.get("role"))
        assert target.user_id is not None
        await self._chat.set_role(target.user_id, role)
        return {"ok": True, "role": role.value}

    async def _audit(self, socket: Socket, actor: Person, fields: dict[str, Any]) -> Ack:
        entries = await self._moderation.audit(actor, fields.get("before"), fields.get("limit", 50))
        return {"ok": True, "entries": [entry.wire() for entry in entries]}
