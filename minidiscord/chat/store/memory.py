"""MemoryStore: the Store kept in dicts, for tests and single-process throwaway servers."""

import bisect
import dataclasses
import heapq
import secrets
from collections.abc import Collection, Sequence

from ..models import CHANNELS, Message, Role, Session, User
from .base import Snapshot, session_hash


def new_user_id() -> str:
    return secrets.token_hex(16)


def new_session_id() -> str:
    # 32 random bytes: 256 bits, URL-safe so clients can keep it anywhere.
    return secrets.token_urlsafe(32)


class MemoryStore:
    """Everything in memory; nothing survives the process.

    No method awaits anything, so each one is atomic with respect to other trio tasks.
    """

    def __init__(self, channels: tuple[str, ...] = CHANNELS) -> None:
        # In creation order (a dict keeps insertion order).
        self._users: dict[str, User] = {}
        self._seen: dict[str, int] = {}
        self._last_seq = 0
        self._sessions: dict[bytes, Session] = {}
        self._messages: dict[str, list[Message]] = {name: [] for name in channels}
        self._last_id = 0
        self._closed = False

    async def create_user(
        self, username: str, avatar: str | None = None, *, seen: int = 0, role: Role = Role.GUEST
    ) -> tuple[User, Session]:
        self._check_open()
        self._last_seq += 1
        user = User(new_user_id(), username, avatar, seq=self._last_seq, role=role)
        session = Session(new_session_id(), user.user_id, created=seen)
        self._users[user.user_id] = user
        self._seen[user.user_id] = seen
        self._sessions[session_hash(session.session_id)] = session
        return user, session

    async def get_session(self, session_id: str) -> tuple[User, Session] | None:
        self._check_open()
        session = self._sessions.get(session_hash(session_id))
        if session is None:
            return None
        user = self._users.get(session.user_id)
        if user is None:
            return None
        return user, dataclasses.replace(session, last_seen=self._seen[user.user_id])

    async def delete_user(self, user_id: str) -> bool:
        self._check_open()
        if self._users.pop(user_id, None) is None:
            return False
        del self._seen[user_id]
        for key in [key for key, s in self._sessions.items() if s.user_id == user_id]:
            del self._sessions[key]
        return True

    async def add_channel(self, channel: str) -> None:
        self._check_open()
        self._messages.setdefault(channel, [])

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        self._check_open()
        messages = self._messages.get(channel)
        if messages is None:
            raise KeyError(f"no channel {channel!r}")
        self._last_id += 1
        message = Message.by(
            user, id=self._last_id, channel=channel, text=text, timestamp=timestamp
        )
        messages.append(message)
        return message

    async def delete_message(self, channel: str, message_id: int) -> bool:
        self._check_open()
        messages = self._messages.get(channel, [])
        # Removed outright: ids come from a counter here, so none is handed out again.
        at = bisect.bisect_left(messages, message_id, key=lambda m: m.id)
        if at == len(messages) or messages[at].id != message_id:
            return False
        del messages[at]
        return True

    async def set_role(self, user_id: str, role: Role) -> None:
        self._check_open()
        user = self._users.get(user_id)
        if user is not None:
            self._users[user_id] = dataclasses.replace(user, role=role)

    def note_seen(self, user_id: str, when: int) -> None:
        # Disconnect handlers may still run after shutdown closed the store: ignored then.
        if not self._closed and user_id in self._seen:
            self._seen[user_id] = when

    async def snapshot(
        self,
        channels: Sequence[str],
        limit: int,
        *,
        users_max: int | None = None,
        seen_since: int = 0,
        including: Collection[str] = (),
        skip_online: bool = False,
    ) -> Snapshot:
        # No cluster presence here: skip_online leaves nobody out.
        self._check_open()
        users, outside_cut = self._listed_users(users_max, seen_since, including)
        return Snapshot(
            messages={
                name: list(self._messages.get(name, [])[-limit:]) if limit > 0 else []
                for name in channels
            },
            users=users,
            last_id=self._last_id,
            seen={user.user_id: self._seen[user.user_id] for user in users},
            outside_cut=outside_cut,
        )

    def _listed_users(
        self, users_max: int | None, seen_since: int, including: Collection[str]
    ) -> tuple[list[User], frozenset[str]]:
        recent = [u for u in self._users.values() if self._seen[u.user_id] >= seen_since]
        if users_max is not None and len(recent) > users_max:
            # Ties go to the newer user, as on SQLite.
            recent = heapq.nlargest(users_max, recent, key=lambda u: (self._seen[u.user_id], u.seq))
        listed = {u.user_id for u in recent}
        outside_cut = frozenset(u for u in including if u not in listed and u in self._users)
        listed.update(outside_cut)
        return [u for u in self._users.values() if u.user_id in listed], outside_cut

    async def recent_messages(self, channel: str, limit: int) -> list[Message]:
        self._check_open()
        if limit <= 0:
            return []
        return list(self._messages.get(channel, [])[-limit:])

    async def messages_before(self, channel: str, before_id: int, limit: int) -> list[Message]:
        self._check_open()
        if limit <= 0:
            return []
        messages = self._messages.get(channel, [])
        # Ids increase along each channel's list, so the cut is a binary search.
        end = bisect.bisect_left(messages, before_id, key=lambda m: m.id)
        return messages[max(0, end - limit) : end]

    async def list_users(self) -> list[User]:
        self._check_open()
        return list(self._users.values())

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")
