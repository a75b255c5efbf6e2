"""ChannelRegistry: the channels and direct conversations this server knows, and the one
access check every event goes through (may this user read / post in channel X).

Kept in memory, loaded from the ChannelStore at start and changed only through ``apply``
(on one node right after the store's write; in cluster mode by every node's log reader),
so a check never awaits. The message store learns a channel before its first message
(``usable``), which keeps `add_message` numbering ids in its caller's step.
"""

from collections.abc import Iterable
from enum import Enum

from ..models import CHANNELS
from ..store import Store
from ..validation import Invalid, channel_id
from .records import ORIGINALS, Channel, Conversation, members_of
from .store import ChannelStore


class Need(Enum):
    READ = "read"
    POST = "post"


class ChannelRegistry:
    def __init__(self, store: ChannelStore, messages: Store) -> None:
        self.store = store
        self._messages = messages
        self._channels: dict[str, Channel] = {c.id: c for c in ORIGINALS}
        self._conversations: dict[str, Conversation] = {}
        self._by_member: dict[str, list[Conversation]] = {}
        # Channels changed since start (a load must not undo a change made meanwhile).
        self._changed: set[str] = set()
        # Channels the message store was told of since start (the five it always knows).
        self._stored: set[str] = set(CHANNELS)

    async def load(self) -> None:
        for channel in await self.store.channels():
            # In cluster mode the log reader may have applied a newer change meanwhile.
            if channel.id not in self._changed:
                self._channels[channel.id] = channel
        self.apply_conversations(await self.store.conversations())

    # -- changes (no awaits) -----------------------------------------------------------

    def apply_channel(self, channel: Channel) -> None:
        self._channels[channel.id] = channel
        self._changed.add(channel.id)

    def apply_conversations(self, conversations: Iterable[Conversation]) -> None:
        for conversation in conversations:
            if conversation.id in self._conversations:
                continue
            self._conversations[conversation.id] = conversation
            for member in conversation.members:
                self._by_member.setdefault(member, []).append(conversation)

    # -- reads -------------------------------------------------------------------------

    def public(self) -> list[Channel]:
        """The original five first (in their order), then created ones in creation order."""
        return list(self._channels.values())

    def channel(self, channel_id: object) -> Channel | None:
        return self._channels.get(channel_id) if isinstance(channel_id, str) else None

    def conversation(self, channel_id: str) -> Conversation | None:
        return self._conversations.get(channel_id)

    def conversations_of(self, user_id: str) -> list[Conversation]:
        return list(self._by_member.get(user_id, ()))

    def readable(self, user_id: str) -> list[str]:
        """Every channel id ``user_id`` may read: the public channels (archived ones too)
        and its own conversations."""
        return [*self._channels, *(c.id for c in self._by_member.get(user_id, ()))]

    def named(self, name_key: str) -> Channel | None:
        return next((c for c in self._channels.values() if c.name_key == name_key), None)

    def check(self, user_id: str, raw: object, need: Need) -> str:
        """The channel id ``raw`` if ``user_id`` may ``need`` it; else Invalid, which says
        the same for a conversation that does not exist as for one of others (an id does
        not tell whether two others talk)."""
        raw = channel_id(raw)
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        public = self._channels.get(raw)
        if public is not None:
            if public.archived and need is Need.POST:
                raise Invalid(f"#{public.name} is archived: it is read-only")
            return raw
        members = members_of(raw)
        if members is not None and user_id in members and raw in self._conversations:
            return raw
        # The same words for a conversation of others as for a made-up id.
        more = len(self._channels) - len(CHANNELS)
        also = f" and {more} more (channel:list names them)" if more else ""
        raise Invalid(f"unknown channel {shown!r}; channels are {', '.join(CHANNELS)}{also}")

    async def usable(self, user_id: str, raw: object, need: Need) -> str:
        """``check``, and the message store made ready for the channel's messages."""
        channel = self.check(user_id, raw, need)
        await self.prepare(channel)
        return channel

    async def prepare(self, channel: str) -> None:
        """Make the message store (this node's view of it) ready for ``channel``."""
        if channel not in self._stored:
            await self._messages.add_channel(channel)
            self._stored.add(channel)
