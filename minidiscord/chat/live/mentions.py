"""Mentions: `@name` in a message resolved to users, and the `mention` notification.

A name is matched as the accounts match names (``validation.name_key``: case, width,
look-alike letters and invisible characters do not make two names), against the users
online first and then everyone the store knows. A name of several words is matched by its
longest run of words that names someone (`@Ada Lovelace`). Every user with the name is
mentioned (guests may share one). The message as broadcast on this node carries
``mentions: [userId...]``; each mentioned user but the author gets `mention` {channel,
message} in their own room, on every node (it travels as a chat effect).
"""

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from minidiscord.sockets import Namespace

from ..models import Message, User
from ..moderation.effects import Do
from ..store.base import StoreReadError, StoreWriteError
from ..validation import MAX_USERNAME, name_key
from .access import allowed

log = logging.getLogger(__name__)

# A name of this many words at most.
MAX_WORDS = 3
# `@` not inside a word or an e-mail address, then up to MAX_WORDS words (looked ahead,
# not consumed: "@ada @bob" names both).
_AT = re.compile(rf"(?<![\w@])@(?=(\S+(?:[ \t]+\S+){{0,{MAX_WORDS - 1}}}))")
# What ends a name written in a sentence ("thanks @ada!") without being part of it.
_TRAILING = ".,!?;:)]}'\""
# At most this many names are looked up in one message (a list of 500 @s costs the sender).
MAX_MENTIONS = 20
EFFECT = Do.MENTION.value


def candidates(text: str) -> list[list[str]]:
    """For each `@` (at most MAX_MENTIONS), the name keys to try, longest first."""
    found: list[list[str]] = []
    if "@" not in text:
        # Most messages: a substring test is ~50x cheaper than the pattern's scan.
        return found
    for match in _AT.finditer(text):
        words = match.group(1).split()
        keys = []
        for count in range(len(words), 0, -1):
            name = " ".join(words[:count]).rstrip(_TRAILING)
            if name and len(name) <= MAX_USERNAME:
                keys.append(name_key(name))
        if keys:
            found.append(keys)
        if len(found) == MAX_MENTIONS:
            break
    return found


def resolve(wanted: list[list[str]], users: Iterable[User]) -> tuple[list[str], list[list[str]]]:
    """The ids of the users ``wanted`` names (in order, once each), and the wanted names
    none of ``users`` has."""
    by_key: dict[str, list[str]] = {}
    for user in users:
        by_key.setdefault(name_key(user.username), []).append(user.user_id)
    ids: list[str] = []
    unmatched: list[list[str]] = []
    for keys in wanted:
        match = next((by_key[key] for key in keys if key in by_key), None)
        if match is None:
            unmatched.append(keys)
        for user_id in match or ():
            if user_id not in ids:
                ids.append(user_id)
    return ids, unmatched


class Mentions:
    def __init__(
        self,
        online: Callable[[], Mapping[str, User]],
        every_user: Callable[[], Awaitable[list[User]]],
        share: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        readable: Callable[[str, object], str],
    ) -> None:
        """``share``: apply an effect on every node (the chat's moderate); ``readable``: the
        chat's one access check (only who may read the channel is told)."""
        self._online = online
        self._every_user = every_user
        self._share = share
        self._readable = readable

    async def of(self, text: str) -> tuple[str, ...]:
        """The ids of the users ``text`` mentions. The store is read only for names no one
        online has; if it cannot answer, only the users online are mentioned."""
        wanted = candidates(text)
        if not wanted:
            return ()
        online = self._online()
        ids, unmatched = resolve(wanted, online.values())
        if unmatched:
            try:
                offline = [u for u in await self._every_user() if u.user_id not in online]
            except StoreReadError as exc:
                log.warning("mentions of offline users not resolved: %s", exc)
                offline = []
            # Again with everyone, so the ids keep the order the names are written in.
            ids, _ = resolve(wanted, [*online.values(), *offline])
        return tuple(ids)

    async def notify(self, message: Message) -> None:
        """Tell the users ``message`` mentions (its ``mentions``), on every node."""
        notice = effect(message, lambda user_id: allowed(self._readable, user_id, message.channel))
        if notice is None:
            return
        try:
            await self._share(notice)
        except StoreWriteError as exc:
            # The message is out; only its notifications are lost.
            log.warning("the mentions of message %s were not notified: %s", message.id, exc)


def effect(message: Message, may_read: Callable[[str], bool]) -> dict[str, Any] | None:
    """The chat effect that notifies the users ``message`` mentions who ``may_read`` its
    channel (None: nobody); a conversation's outsiders are never told."""
    notified = [
        user_id for user_id in message.mentions if user_id != message.user_id and may_read(user_id)
    ]
    if not notified:
        return None
    return {
        "do": EFFECT,
        "userIds": notified,
        "channel": message.channel,
        "message": message.wire(),
    }


def deliver(namespace: Namespace, effect: Mapping[str, Any], room_of: Callable[[str], str]) -> None:
    """Apply a mention effect on this node: `mention` {channel, message} to each mentioned
    user's sockets here."""
    user_ids, channel, message = effect.get("userIds"), effect.get("channel"), effect.get("message")
    if (
        not isinstance(user_ids, list)
        or not isinstance(channel, str)
        or not isinstance(message, dict)
    ):
        log.warning("a mention effect could not be applied: %r", effect)
        return
    rooms = [room_of(user_id) for user_id in user_ids if isinstance(user_id, str)]
    if rooms:
        namespace.to(rooms).emit("mention", {"channel": channel, "message": message})
