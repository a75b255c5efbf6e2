"""The chat's data: users, sessions, messages, and their exact wire shapes."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from ..records import record
from .reactions.records import Reactions

# The original server's channels, in the order its clients list them.
CHANNELS: Final = ("welcome", "general", "react", "learners", "casual")
# Presence announcements go to this room (every socket is in every channel).
WELCOME_CHANNEL: Final = "welcome"


class Role(StrEnum):
    """What a user may do. Guests are open mode's nameless-account users; every account
    holds one of the others (moderation checks ``Role.may``)."""

    ADMIN = "admin"
    MODERATOR = "moderator"
    MEMBER = "member"
    GUEST = "guest"

    @property
    def rank(self) -> int:
        """Higher may do more: each role may do what the ones below it may."""
        return _ROLE_RANKS[self]

    def may(self, needed: "Role") -> bool:
        """Whether this role is ``needed`` or above it (the one check moderation uses)."""
        return self.rank >= needed.rank


_ROLE_RANKS: Final = {Role.GUEST: 0, Role.MEMBER: 1, Role.MODERATOR: 2, Role.ADMIN: 3}
# The roles' names, to check one read back from elsewhere (Redis) before trusting it.
ROLES: Final = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    username: str
    avatar: str | None = None
    # Creation order among users, given by the store: the `users` list keeps this order.
    # Not part of who the user is (a user built without it still equals the stored one).
    seq: int = field(default=0, compare=False)
    # Shown to everyone beside the name (an account's role may change, a guest stays one).
    role: Role = field(default=Role.GUEST, compare=False)

    def presence_wire(self, *, connected: bool) -> dict[str, Any]:
        """`users` entries, `user:leave`, `user:disconnect`, `user:connect`: no avatar.
        ``role`` is ours (additive): ``guest`` marks a guest to everyone else."""
        return {
            "userId": self.user_id,
            "username": self.username,
            "connected": connected,
            "role": self.role.value,
        }

    def join_wire(self) -> dict[str, Any]:
        """`user:join`: like presence, plus the avatar when there is one."""
        wire = self.presence_wire(connected=True)
        if self.avatar is not None:
            wire["avatar"] = self.avatar
        return wire


@dataclass(frozen=True, slots=True)
class Session:
    # Never log session_id: it is the only credential a client holds.
    session_id: str
    user_id: str
    # A guest's session, as read back from the store: when it was made and when its user
    # was last seen (ms since the epoch; 0: unknown), which its lifetimes are counted from.
    created: int = field(default=0, compare=False)
    last_seen: int = field(default=0, compare=False)

    def wire(self, user: User) -> dict[str, Any]:
        """The `session` event sent to the client that owns this session."""
        wire: dict[str, Any] = {
            "sessionId": self.session_id,
            "userId": user.user_id,
            "username": user.username,
            "connected": True,
            "role": user.role.value,
        }
        if user.avatar is not None:
            wire["avatar"] = user.avatar
        return wire

    def __repr__(self) -> str:
        # Keeps the credential out of logs and tracebacks that print the object.
        return f"Session(session_id=<hidden>, user_id={self.user_id!r})"


@record
class Message:
    id: int
    channel: str
    user_id: str
    # Snapshot of the author at send time: history stays readable after the author leaves.
    username: str
    timestamp: int  # milliseconds since the epoch, as JavaScript's Date.now()
    message: str
    avatar: str | None = None
    # When its author last edited it (ms since the epoch); None: never edited.
    edited_at: int | None = None
    # Its reactions as last read (kept by the ReactionStore, not the chat store).
    reactions: Reactions = ()
    # Who the text mentions (userIds, resolved at send; live broadcasts only, not stored).
    mentions: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def by(cls, author: "User", *, id: int, channel: str, text: str, timestamp: int) -> "Message":
        """A message sent by ``author`` now, with the author's name and avatar of the moment."""
        return cls(id, channel, author.user_id, author.username, timestamp, text, author.avatar)

    def wire(self) -> dict[str, Any]:
        """The message object of `message:channel` and of `channels` history."""
        wire: dict[str, Any] = {
            "id": self.id,
            "userId": self.user_id,
            "username": self.username,
            "timestamp": self.timestamp,
            "message": self.message,
        }
        if self.avatar is not None:
            wire["avatar"] = self.avatar
        if self.edited_at is not None:
            # Ours (additive): the original client ignores it.
            wire["editedAt"] = self.edited_at
        if self.reactions:
            wire["reactions"] = [reaction.wire() for reaction in self.reactions]
        if self.mentions:
            wire["mentions"] = list(self.mentions)
        return wire
