"""Where the chat keeps its data in Redis: the key names and the log entries' payloads.

Every node of a cluster must agree on these byte for byte, so they live in one place. The
writers (one module per key family, as the design note asks):

- ``store/redis.py`` (RedisStore) writes ``P:userseq``, ``P:user:*``, ``P:users``,
  ``P:seen``, ``P:session:*``, ``P:sessions:*`` and ``P:ch:*``, adds to and removes from
  ``P:unshown`` (a user's creation and deletion), and writes the ``message`` and
  ``leave`` entries of ``P:log`` (taking their numbers from ``P:seq``), and the
  ``moderation`` entry of a deleted message, in the script that deletes it;
- the chat's cluster side writes the presence keys (of which the store reads ``P:online``),
  removes from ``P:unshown`` (a user's first arrival; the heartbeat, a mark left too long),
  and writes the ``online``, ``offline``, ``node`` and other ``moderation`` entries of ``P:log``
  (also numbered from ``P:seq``; ``minidiscord admin`` appends ``moderation`` entries too,
  through ``cluster/effects.py``).

Log entries have two fields: ``k`` (the kind) and ``d`` (a JSON payload). Entry ``0-n``
took number ``n`` from ``P:seq``; a message's id is its entry's number.
"""

from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..models import Message, Role, User

# XADD ... MAXLEN ~ this: a node further behind than that many entries resyncs.
LOG_MAXLEN: Final = 100_000

# The kinds of log entry (the ``k`` field).
MESSAGE: Final = b"message"
LEAVE: Final = b"leave"
ONLINE: Final = b"online"
OFFLINE: Final = b"offline"
NODE: Final = b"node"
# A moderation effect every node applies to its own sockets (chat/server.py moderated).
MODERATION: Final = b"moderation"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The names of one chat's keys, all under ``{prefix}:``."""

    prefix: str

    @property
    def seq(self) -> str:
        """STRING counter: every log entry (and so every message id) takes the next number."""
        return f"{self.prefix}:seq"

    @property
    def log(self) -> str:
        """STREAM of chat events, entry ids ``0-n``."""
        return f"{self.prefix}:log"

    @property
    def userseq(self) -> str:
        """STRING counter: users' creation order."""
        return f"{self.prefix}:userseq"

    @property
    def users(self) -> str:
        """ZSET userId, scored by creation order."""
        return f"{self.prefix}:users"

    @property
    def seen(self) -> str:
        """ZSET userId, scored by when last seen (ms since the epoch)."""
        return f"{self.prefix}:seen"

    @property
    def user_prefix(self) -> str:
        return f"{self.prefix}:user:"

    def user(self, user_id: str) -> str:
        """HASH ``seq`` (creation order), ``json`` (the user's payload, see user_json)."""
        return f"{self.user_prefix}{user_id}"

    @property
    def session_prefix(self) -> str:
        return f"{self.prefix}:session:"

    def session(self, digest: bytes) -> str:
        """STRING userId, under the hex SHA-256 of the sessionId (never the id itself)."""
        return f"{self.session_prefix}{digest.hex()}"

    def sessions(self, user_id: str) -> str:
        """SET of the hex session digests of a user (to delete them with the user)."""
        return f"{self.prefix}:sessions:{user_id}"

    def channel(self, name: str) -> str:
        """ZSET of a channel's messages: score the id, member the message's JSON."""
        return f"{self.prefix}:ch:{name}"

    def reactions(self, channel: str, message_id: int) -> str:
        """ZSET of a message's reactions (chat/reactions/redis.py)."""
        return f"{self.prefix}:reactions:{channel}:{message_id}"

    @property
    def reaction_seq(self) -> str:
        """STRING counter: the order reactions came in."""
        return f"{self.prefix}:reactionseq"

    @property
    def online(self) -> str:
        """HASH userId -> how many nodes the user is on: the cluster presence's key
        (``chat/cluster/keys.py``), which the store only reads, to leave online users out
        of a connect snapshot (their nodes mirror them)."""
        return f"{self.prefix}:online"

    @property
    def online_user(self) -> str:
        """HASH userId -> the online user's JSON, the cluster presence's key
        (``chat/cluster/keys.py``): the store only changes the role in it (set_role), so that
        a node starting later mirrors an online user with the role it has now."""
        return f"{self.prefix}:onlineuser"

    @property
    def unshown(self) -> str:
        """ZSET userId, scored by when it was created (ms, Redis TIME): the users whose
        first arrival has not been logged yet. A connect snapshot leaves them out (whoever
        reads it learns of them from their `online` entry, once, as a `user:join`); the
        script that logs that entry removes the mark, and so does the user's deletion, or
        the heartbeat once the mark is older than any connect takes to register (a node
        that crashed in between: its user is then listed offline like any other)."""
        return f"{self.prefix}:unshown"


def user_json(user: User) -> bytes:
    """A user as stored (``P:user:*`` field ``json``) and as a ``leave`` entry's payload:
    ``{userId, username, avatar?, role?}`` (no role: a guest, as every user stored before
    roles were)."""
    payload: dict[str, Any] = {"userId": user.user_id, "username": user.username}
    if user.avatar is not None:
        payload["avatar"] = user.avatar
    if user.role is not Role.GUEST:
        payload["role"] = user.role.value
    return orjson.dumps(payload)


def user_from_json(data: bytes | str, seq: int = 0) -> User:
    """The user of a ``leave`` entry (or of a stored user, with its creation order)."""
    payload = orjson.loads(data)
    role = Role(payload.get("role", Role.GUEST))
    return User(payload["userId"], payload["username"], payload.get("avatar"), seq=seq, role=role)


def message_json_tail(message: Message) -> bytes:
    """A message's JSON without its opening brace and id: the store's script prepends
    ``{"id":n,`` once Redis has numbered it."""
    payload: dict[str, Any] = {
        "channel": message.channel,
        "userId": message.user_id,
        "username": message.username,
        "timestamp": message.timestamp,
        "message": message.message,
    }
    if message.avatar is not None:
        payload["avatar"] = message.avatar
    return orjson.dumps(payload)[1:]


def message_from_json(data: bytes | str) -> Message:
    """The message of a ``message`` entry, or of a member of a channel's ZSET."""
    payload = orjson.loads(data)
    return Message(
        id=payload["id"],
        channel=payload["channel"],
        user_id=payload["userId"],
        username=payload["username"],
        timestamp=payload["timestamp"],
        message=payload["message"],
        avatar=payload.get("avatar"),
        edited_at=payload.get("editedAt"),
    )


def edited_json(member: bytes | str, text: str, edited_at: int) -> bytes:
    """A channel ZSET's member (a message's JSON) with a new text, edited at that time."""
    payload = orjson.loads(member)
    payload["message"] = text
    payload["editedAt"] = edited_at
    return orjson.dumps(payload)
