"""Reactions' events of the chat's "/" namespace (issue 18), all acked ``{ok, ...}``:

    reaction:add     {channel, id, emoji}   anyone who can read the channel; everyone in it
    reaction:remove  {channel, id, emoji}   gets `reaction:update` {channel, id, reactions}
                                            (the message's reactions now); acked
                                            {ok, reactions}

``emoji``: one emoji or a :shortcode: (emoji.py). ``reactions``: [{emoji, count, userIds}],
each emoji where its earliest reaction is. Bounded per message (records.py) and, as sends,
per user in time (the send rate, in a bucket of its own).
"""

from collections.abc import MutableSequence
from dataclasses import replace
from typing import Any, Protocol

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Socket

from ..channels.registry import Need
from ..models import Message, User
from ..moderation.effects import Do
from ..requests import (
    Ack,
    ChannelAccess,
    Handler,
    Refused,
    guarded,
    is_int,
    message_id,
    within_rate,
)
from ..store.base import Store
from .emoji import reaction_emoji
from .records import MAX_KINDS, MAX_OWN, Outcome, Reaction, Reactions, wire
from .store import ReactionStore


class ReactionSide(Protocol):
    async def moderate(self, effect: dict[str, Any]) -> None: ...


class ReactionEvents:
    def __init__(
        self,
        chat: ReactionSide,
        store: Store,
        reactions: ReactionStore,
        channels: ChannelAccess,
        *,
        rate: Rate | None,
    ) -> None:
        self._chat = chat
        self._store = store
        self._channels = channels
        self._reactions = reactions
        self._changes = KeyedBuckets(rate)

    def handlers(self) -> dict[str, Handler]:
        return {
            "reaction:add": guarded("reaction:add", self._add),
            "reaction:remove": guarded("reaction:remove", self._remove),
        }

    async def _add(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        return await self._change(user, fields, add=True)

    async def _remove(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        return await self._change(user, fields, add=False)

    async def _change(self, user: User, fields: dict[str, Any], *, add: bool) -> Ack:
        within_rate(self._changes, user, "reacting")
        channel = await self._channels.usable(user.user_id, fields.get("channel"), Need.POST)
        number = message_id(fields.get("id"))
        emoji = reaction_emoji(fields.get("emoji"))
        if await self._store.message(channel, number) is None:
            raise Refused(f"there is no message {number} in {channel}")
        change = self._reactions.add if add else self._reactions.remove
        outcome, now = await change(channel, number, emoji, user.user_id)
        if outcome is Outcome.TOO_MANY_KINDS:
            raise Refused(f"a message holds at most {MAX_KINDS} different reactions")
        if outcome is Outcome.TOO_MANY_OWN:
            raise Refused(f"you may react at most {MAX_OWN} times to one message")
        if outcome is Outcome.CHANGED:
            # Through moderation's path: applied here, or on every node through the log.
            await self._chat.moderate(
                {"do": Do.REACT.value, "channel": channel, "id": number, "reactions": wire(now)}
            )
        return {"ok": True, "reactions": wire(now)}


def reaction_update(effect: dict[str, Any]) -> dict[str, Any] | None:
    """The `reaction:update` payload of a ``react`` effect, or None when it is malformed."""
    channel, number, reactions = effect.get("channel"), effect.get("id"), effect.get("reactions")
    if not isinstance(channel, str) or not is_int(number) or _from_wire(reactions) is None:
        return None
    return {"channel": channel, "id": number, "reactions": reactions}


def replace_reactions(recent: MutableSequence[Message], update: dict[str, Any]) -> None:
    """The message's reactions in ``recent`` (the server's last broadcasts), if it is there."""
    reactions = _from_wire(update["reactions"])
    assert reactions is not None
    for n, kept in enumerate(recent):
        if kept.id == update["id"]:
            recent[n] = replace(kept, reactions=reactions)


def _from_wire(raw: object) -> Reactions | None:
    if not isinstance(raw, list):
        return None
    found = []
    for entry in raw:
        users = entry.get("userIds") if isinstance(entry, dict) else None
        if not isinstance(users, list) or not isinstance(entry.get("emoji"), str):
            return None
        found.append(Reaction(entry["emoji"], tuple(str(u) for u in users)))
    return tuple(found)
