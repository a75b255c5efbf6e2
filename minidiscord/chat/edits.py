"""Editing and deleting your own messages (issue 18), events of the chat's "/" namespace:

    message:edit    {channel, id, text}   the author: everyone in the channel gets
                                          `message:edit` {channel, id, message, editedAt};
                                          acked {ok, id, editedAt}
    message:delete  {channel, id}         the author (anyone else: moderation's rule, when
                                          the server has accounts); everyone in the channel
                                          gets `message:delete` {channel, id}; acked {ok}

The text of an edit is checked as a send's is, and an edit costs what a send does (the
same rate, per user; a timed-out user cannot edit). Who the author is comes from the store,
never from the client.
"""

import dataclasses
from collections.abc import Callable, MutableSequence
from typing import Any, Protocol

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Socket

from . import notices, validation
from .channels.registry import Need
from .models import Message, User
from .moderation.effects import Do
from .requests import (
    Ack,
    ChannelAccess,
    Handler,
    Refused,
    guarded,
    is_int,
    message_id,
    within_rate,
)
from .store.base import Store


class EditSide(Protocol):
    """What these events need of the chat server: each change reaches every socket in the
    channel, on every node in cluster mode."""

    async def delete_message(self, channel: str, message_id: int) -> bool: ...

    async def moderate(self, effect: dict[str, Any]) -> None: ...

    def timed_out_until(self, user_id: str) -> int | None: ...


class EditEvents:
    def __init__(
        self,
        chat: EditSide,
        store: Store,
        channels: ChannelAccess,
        *,
        clock: Callable[[], int],
        rate: Rate | None,
        moderators_delete: Handler | None = None,
    ) -> None:
        self._chat = chat
        self._store = store
        self._channels = channels
        self._clock = clock
        self._edits = KeyedBuckets(rate)
        # Moderation's `message:delete` (a moderator deletes any message), when there is one.
        self._moderators_delete = moderators_delete

    def handlers(self) -> dict[str, Handler]:
        return {
            "message:edit": guarded("message:edit", self._edit),
            "message:delete": guarded("message:delete", self._delete),
        }

    async def _edit(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        until = self._chat.timed_out_until(user.user_id)
        if until is not None:
            raise Refused(
                f"you are timed out until {notices.clock_time(until)}",
                label="timed out",
                until=until,
            )
        within_rate(self._edits, user, "editing")
        channel = await self._channels.usable(user.user_id, fields.get("channel"), Need.POST)
        number = message_id(fields.get("id"))
        text = validation.message_text(fields.get("text"))
        message = await self._found(channel, number)
        if message.user_id != user.user_id:
            raise Refused("you may edit only your own messages")
        changed = await self._store.edit_message(channel, number, text, self._clock())
        if changed is None:  # deleted meanwhile
            raise Refused(f"there is no message {number} in {channel}")
        # Through moderation's path: applied here, or on every node through the log.
        await self._chat.moderate(edit_effect(changed))
        return {"ok": True, "id": changed.id, "editedAt": changed.edited_at}

    async def _delete(self, socket: Socket, user: User, fields: dict[str, Any]) -> Ack:
        channel = await self._channels.usable(user.user_id, fields.get("channel"), Need.POST)
        number = message_id(fields.get("id"))
        message = await self._found(channel, number)
        if message.user_id != user.user_id:
            if self._moderators_delete is None:
                raise Refused("you may delete only your own messages")
            # Someone else's: moderation decides (a moderator may, and it is audited).
            return await self._moderators_delete(socket, fields)
        if not await self._chat.delete_message(channel, number):  # deleted meanwhile
            raise Refused(f"there is no message {number} in {channel}")
        return {"ok": True}

    async def _found(self, channel: str, number: int) -> Message:
        message = await self._store.message(channel, number)
        if message is None:
            raise Refused(f"there is no message {number} in {channel}")
        return message


def edit_effect(message: Message) -> dict[str, Any]:
    """The effect every node applies for an edit (the chat's moderated effects): the
    `message:edit` payload, named ``do: edit``."""
    return {
        "do": Do.EDIT.value,
        "channel": message.channel,
        "id": message.id,
        "message": message.message,
        "editedAt": message.edited_at,
    }


def edited(effect: dict[str, Any]) -> dict[str, Any] | None:
    """The `message:edit` payload of an edit effect, or None when it is malformed."""
    channel, number = effect.get("channel"), effect.get("id")
    text, at = effect.get("message"), effect.get("editedAt")
    if not isinstance(channel, str) or not isinstance(text, str):
        return None
    if not is_int(number) or not is_int(at):
        return None
    return {"channel": channel, "id": number, "message": text, "editedAt": at}


def replace_recent(recent: MutableSequence[Message], edit: dict[str, Any]) -> None:
    """The edited message's new text in ``recent`` (the server's last broadcasts), if it
    is there."""
    for n, kept in enumerate(recent):
        if kept.id == edit["id"]:
            recent[n] = dataclasses.replace(
                kept, message=edit["message"], edited_at=edit["editedAt"]
            )
