"""The chat's data: users, sessions, messages, and their exact wire shapes."""

from dataclasses import dataclass, field
from typing import Any, Final

# The original server's channels, in the order its clients list them.
CHANNELS: Final = ("welcome", "general", "react", "learners", "casual")
# Presence announcements go to this room (every socket is in every channel).
WELCOME_CHANNEL: Final = "welcome"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    username: str
    avatar: str | None = None
    # Creation order among users, given by the store: the `users` list keeps this order.
    # Not part of who the user is (a user built without it still equals the stored one).
    seq: int = field(default=0, compare=False)

    def presence_wire(self, *, connected: bool) -> dict[str, Any]:
        """`users` entries, `user:leave`, `user:disconnect`, `user:connect`: no avatar."""
        return {"userId": self.user_id, "username": self.username, "connected": connected}

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

    def wire(self, user: User) -> dict[str, Any]:
        """The `session` event sent to the client that owns this session."""
        wire: dict[str, Any] = {
            "sessionId": self.session_id,
            "userId": user.user_id,
            "username": user.username,
            "connected": True,
        }
        if user.avatar is not None:
            wire["avatar"] = user.avatar
        return wire

    def __repr__(self) -> str:
        # Keeps the credential out of logs and tracebacks that print the object.
        return f"Session(session_id=<hidden>, user_id={self.user_id!r})"


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    channel: str
    user_id: str
    # Snapshot of the author at send time: history stays readable after the author leaves.
    username: str
    timestamp: int  # milliseconds since the epoch, as JavaScript's Date.now()
    message: str
    avatar: str | None = None

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
        return wire
