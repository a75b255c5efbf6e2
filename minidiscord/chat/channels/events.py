"""The channel and direct-conversation events of the chat's "/" namespace (all additive,
all acked ``{ok, ...}`` or ``{ok: false, error}``):

    channel:list     {}                       anyone: {ok, channels, conversations}; from
                                              now on this socket hears created channels'
                                              messages, `channel:update` and its
                                              conversations (`dm:update`, their messages)
    channel:create   {name, topic?}           moderator: {ok, channel}
    channel:rename   {id, name}               moderator (not the original five)
    channel:topic    {id, topic}              moderator ("" clears it)
    channel:archive  {id, archived?}          moderator (not the original five): read-only
    dm:open          {userId}                 anyone: {ok, conversation} with that user

A channel on the wire is ``{id, name, topic, archived}``; a conversation ``{id, members}``
(two user ids). Messages of either are sent with `message:channel:send` (channel = id) and
arrive as `message:channel`, as the original five's do: one path for storing, ordering and
broadcasting every message. The original React client never sends `channel:list`, so it
hears nothing of any of this and keeps its five channels exactly as before.

Each change is an effect (`moderate` on the chat server): applied at once on one node, in
cluster mode appended to the log and applied by every node's reader, so clients on every
node learn it.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from minidiscord.sockets import BroadcastOperator, Namespace, Socket

from ..models import Role, User
from ..moderation.effects import Do
from ..moderation.records import Action
from ..moderation.service import Moderation, ModerationError, Person
from ..requests import Ack, Handler, guarded
from ..validation import Invalid
from .records import (
    ORIGINALS,
    Channel,
    Conversation,
    NameTaken,
    checked_name,
    checked_topic,
    conversation,
    members_of,
    new_channel_id,
)
from .registry import ChannelRegistry

# socket.data key of a socket that sent `channel:list`: it hears channel and conversation
# events (the original client does not, and must not).
LISTENING = "channel_listener"
# The room of every listening socket (no channel id has a "#").
LISTENERS = "#channels"
# Every listening socket joins every public channel's room and is sent the whole list: a
# bound on what each costs. Archived channels count (they are listed too).
MAX_CREATED_CHANNELS = 200
# Conversations a user may have: each is kept for good and listed at each connect.
MAX_CONVERSATIONS = 1000


def dm_room(user_id: str) -> str:
    """The room of a user's listening sockets: their conversations are delivered there."""
    return f"#dm:{user_id}"


class ChatSide(Protocol):
    def online_users(self) -> Mapping[str, User]: ...

    async def known_user(self, asker: str, user_id: str) -> bool: ...

    async def moderate(self, effect: dict[str, Any]) -> None: ...


class ChannelEvents:
    def __init__(
        self,
        chat: ChatSide,
        ns: Namespace,
        registry: ChannelRegistry,
        moderation: Moderation | None,
        clock: Callable[[], int],
    ) -> None:
        self._chat = chat
        self._ns = ns
        self._registry = registry
        self._moderation = moderation
        self._clock = clock
        # Each public channel's broadcast operator, made once rather than for every chat
        # message (two operators, an options tuple and two frozensets each time). Safe to
        # share: an operator is immutable, names its room rather than the room's members,
        # and keeps the namespace's adapter, which is set once when the namespace is made.
        # At most one per public channel (the originals and MAX_CREATED_CHANNELS; archived
        # channels are kept, never removed).
        self._audiences: dict[str, BroadcastOperator] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "channel:list": guarded("channel:list", self._list, optional=True),
            "channel:create": guarded("channel:create", self._create),
            "channel:rename": guarded("channel:rename", self._rename),
            "channel:topic": guarded("channel:topic", self._topic),
            "channel:archive": guarded("channel:archive", self._archive),
            "dm:open": guarded("dm:open", self._open),
        }

    def audience(self, channel: str) -> BroadcastOperator:
        """Who a message of ``channel`` goes to: a conversation's members' listening
        sockets, never anyone else; a public channel's room."""
        members = members_of(channel)
        if members is not None:
            return self._ns.to([dm_room(member) for member in members])
        audience = self._audiences.get(channel)
        if audience is None:
            audience = self._audiences[channel] = self._ns.to(channel)
        return audience

    async def _moderator(self, user: User) -> Person:
        if self._moderation is None:
            raise ModerationError("only a moderator may change channels")
        actor = await self._moderation.person(user.user_id, user.username, user.role)
        self._moderation.check(actor, Role.MODERATOR)
        return actor

    def _existing(self, fields: dict[str, Any], *, fixed_originals: bool = False) -> Channel:
        channel = self._registry.channel(fields.get("id"))
        if channel is None:
            raise Invalid("id must be a channel's id")
        if fixed_originals and channel.original:
            raise Invalid(
                f"#{channel.name} is one of the original channels: it keeps its name and stays open"
            )
        return channel

    # -- the events --------------------------------------------------------------------

    async def _list(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        socket.data[LISTENING] = True
        socket.join([LISTENERS, dm_room(user.user_id)])
        channels = self._registry.public()
        socket.join([c.id for c in channels])
        return {
            "ok": True,
            "channels": [c.wire() for c in channels],
            "conversations": [c.wire() for c in self._registry.conversations_of(user.user_id)],
        }

    async def _create(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        actor = await self._moderator(user)
        name = checked_name(fields.get("name"))
        topic = checked_topic(fields.get("topic"))
        if self._registry.named(name.lower()) is not None:
            raise NameTaken(name)
        if len(self._registry.public()) - len(ORIGINALS) >= MAX_CREATED_CHANNELS:
            raise Invalid(f"this server has the most channels it keeps ({MAX_CREATED_CHANNELS})")
        channel = Channel(new_channel_id(), name, topic, created=self._clock())
        await self._save(channel, actor, "created")
        return {"ok": True, "channel": channel.wire()}

    async def _rename(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        actor = await self._moderator(user)
        channel = self._existing(fields, fixed_originals=True)
        name = checked_name(fields.get("name"))
        taken = self._registry.named(name.lower())
        if taken is not None and taken.id != channel.id:
            raise NameTaken(name)
        return await self._change(channel, actor, f"renamed from {channel.name}", name=name)

    async def _topic(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        actor = await self._moderator(user)
        channel = self._existing(fields)
        if "topic" not in fields:
            raise Invalid("topic is missing (an empty one clears it)")
        topic = checked_topic(fields.get("topic"))
        return await self._change(channel, actor, f"topic: {topic}", topic=topic)

    async def _archive(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        actor = await self._moderator(user)
        channel = self._existing(fields, fixed_originals=True)
        archived = fields.get("archived", True)
        if not isinstance(archived, bool):
            raise Invalid("archived must be true or false")
        detail = "archived" if archived else "reopened"
        return await self._change(channel, actor, detail, archived=archived)

    async def _change(self, channel: Channel, actor: Person, detail: str, **changes: Any) -> Ack:
        changed = dataclasses.replace(channel, **changes)
        await self._save(changed, actor, detail)
        return {"ok": True, "channel": changed.wire()}

    async def _save(self, channel: Channel, actor: Person, detail: str) -> None:
        """Store, tell every node, and audit (who changed which channel, how)."""
        assert self._moderation is not None
        await self._registry.store.save(channel)
        await self._chat.moderate(
            {"do": Do.CHANNEL.value, "channel": {**channel.wire(), "created": channel.created}}
        )
        target = f"#{channel.name} ({channel.id})"
        await self._moderation.record(actor, Action.CHANGE_CHANNEL, target, detail=detail)

    async def _open(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        other = fields.get("userId")
        if not isinstance(other, str) or not other or len(other) > 64 or ":" in other:
            raise Invalid("userId must be a user's id")
        if other == user.user_id:
            raise Invalid("a conversation needs someone else")
        talk = conversation(user.user_id, other, created=self._clock())
        known = self._registry.conversation(talk.id)
        if known is not None:
            return {"ok": True, "conversation": known.wire()}
        for member, whose in ((user.user_id, "you have"), (other, "they have")):
            if len(self._registry.conversations_of(member)) >= MAX_CONVERSATIONS:
                raise Invalid(f"{whose} the most conversations one may ({MAX_CONVERSATIONS})")
        if other not in self._chat.online_users() and not await self._chat.known_user(
            user.user_id, other
        ):
            raise Invalid("no such user")
        if await self._registry.store.add_conversation(talk):
            await self._chat.moderate(
                {"do": Do.DM.value, "conversation": _conversation_effect(talk)}
            )
        else:
            # Opened meanwhile from another node, whose log entry may not be applied here
            # yet: known now, so the asker may write at once (the entry changes nothing).
            self._registry.apply_conversations([talk])
        return {"ok": True, "conversation": talk.wire()}

    # -- effects, applied on every node (no awaits) ------------------------------------

    def effects(self) -> dict[Do, Callable[[dict[str, Any]], bool]]:
        return {Do.CHANNEL: self.apply, Do.DM: self.apply}

    def apply(self, effect: dict[str, Any]) -> bool:
        """Apply a channel or conversation effect; False if it is none of those."""
        what = effect.get("do")
        if what == Do.CHANNEL:
            channel = _channel_from(effect.get("channel"))
            if channel is None:
                return False
            new = self._registry.channel(channel.id) is None
            self._registry.apply_channel(channel)
            if new:
                for socket in self._ns.sockets.values():
                    if LISTENING in socket.data:
                        socket.join(channel.id)
            self._ns.to(LISTENERS).emit("channel:update", channel.wire())
            return True
        if what == Do.DM:
            talk = _conversation_from(effect.get("conversation"))
            if talk is None:
                return False
            self._registry.apply_conversations([talk])
            self.audience(talk.id).emit("dm:update", talk.wire())
            return True
        return False


def _conversation_effect(talk: Conversation) -> dict[str, Any]:
    return {"id": talk.id, "members": list(talk.members), "created": talk.created}


def _channel_from(raw: object) -> Channel | None:
    """A channel read back from an effect (the log is shared: checked, not trusted)."""
    if not isinstance(raw, dict):
        return None
    channel_id, name, topic = raw.get("id"), raw.get("name"), raw.get("topic")
    archived, created = raw.get("archived"), raw.get("created", 0)
    if not (isinstance(channel_id, str) and isinstance(name, str) and isinstance(topic, str)):
        return None
    if not isinstance(archived, bool) or not isinstance(created, int):
        return None
    return Channel(channel_id, name, topic, archived, created)


def _conversation_from(raw: object) -> Conversation | None:
    if not isinstance(raw, dict):
        return None
    channel_id, created = raw.get("id"), raw.get("created", 0)
    if not isinstance(channel_id, str) or not isinstance(created, int):
        return None
    members = members_of(channel_id)
    return None if members is None else Conversation(channel_id, members, created)
