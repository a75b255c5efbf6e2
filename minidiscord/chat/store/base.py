"""The Store protocol: what the chat needs from persistence, whatever the backend."""

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..models import Message, Role, Session, User


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a connecting client is sent, read at one moment (one read, one thread hop)."""

    # The most recent messages of each channel asked for, oldest first.
    messages: dict[str, list[Message]]
    # The users asked for (see Store.snapshot), in the order they were created.
    users: list[User]
    # The highest message id committed when the snapshot was read (0: none yet). Commits
    # follow id order, so every message with an id up to this one is in the store.
    last_id: int
    # When each user in `users` was last seen, in milliseconds since the epoch (0: never).
    seen: dict[str, int] = field(default_factory=dict)
    # The users in `users` only because `including` asked for them (outside the cut): a
    # read shared by several connects lists each connecting user for its own connect only.
    outside_cut: frozenset[str] = frozenset()


def session_hash(session_id: str) -> bytes:
    """The key a session is kept under: its id is a credential, so stores keep and look up
    only this digest. No comparison ever runs over the secret itself (its timing cannot
    leak how much of a guess was right), and a copy of the store holds no usable ids."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


class StoreWriteError(Exception):
    """The store could not commit a write (full disk, locked database, its file deleted);
    nothing was stored."""


class StoreReadError(Exception):
    """The store could not answer a read (its server is unreachable or too slow); the
    message says why in one line. Nothing was changed."""


class Store(Protocol):
    """Users, their sessions and the channels' messages.

    Contract every backend keeps (the chat server relies on it):

    - userId is random; sessionId has at least 128 bits of randomness and is a credential:
      backends never log it.
    - `add_message` returns only once the message is durable ("durable before visible"):
      the caller broadcasts and acknowledges after it returns.
    - A write is never both committed and reported as Cancelled. Once a call has handed
      its write to the commit, cancelling the caller does not withdraw it: the call waits,
      uncancellable, for that commit and anything it reads back (as long as the commit
      takes: Redis fails a write within about 1.25 of its timeouts; SQLite has no timeout
      but its busy timeout), then returns or raises as it would have. Cancelled earlier (an edit's
      first read), it has written nothing. `add_message` hands its write over before its
      first wait, so it cannot be cancelled at all: the chat needs no shield of its own to
      broadcast, in order, every message a store committed.
    - Message ids are unique and increase in the order `add_message` was *called*, across
      all channels, so paging by id works and concurrent senders can be broadcast in
      store order.
    - Message lists are returned oldest first.
    - Each user has a creation order (`User.seq`, increasing) and a "last seen" time, which
      only ranks users for the `users` list: its updates may be lost in a crash.
    """

    async def create_user(
        self, username: str, avatar: str | None = None, *, seen: int = 0, role: Role = Role.GUEST
    ) -> tuple[User, Session]:
        """A new user with a new session, last seen at ``seen`` (ms since the epoch).
        ``role``: GUEST for open mode's guests; an account's user is made with its role."""
        ...

    def note_seen(self, user_id: str, when: int) -> None:
        """Record that a user was last seen at ``when`` (ms since the epoch).

        Never waits and never fails: it is written with other writes, without an fsync of
        its own (one per connect would cost more than the information is worth), no later
        than the next write that is awaited, and is dropped when the store cannot write or
        the user is unknown.
        """
        ...

    async def get_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session and its user, or None when unknown (or its user left)."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Remove a user and all their sessions; their messages stay. False if unknown."""
        ...

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        """Store a message; returns after it is committed."""
        ...

    async def add_channel(self, channel: str) -> None:
        """Make ``channel`` one whose messages this store keeps (a created channel, a direct
        conversation); nothing if it is one already. Durable when it returns."""
        ...

    async def delete_message(self, channel: str, message_id: int) -> bool:
        """Delete a message of ``channel`` (moderation, and a sender's own): no read returns
        it again and its id is never handed out again. False if there was no such message
        (or it was deleted already)."""
        ...

    async def set_role(self, user_id: str, role: Role) -> None:
        """The user's stored role (what the `users` list shows while it is offline); an
        unknown user is ignored."""
        ...

    async def message(self, channel: str, message_id: int) -> Message | None:
        """The message of ``channel`` with that id as it is now, or None (there is none, or
        it was deleted)."""
        ...

    async def edit_message(
        self, channel: str, message_id: int, text: str, edited_at: int
    ) -> Message | None:
        """Give a message of ``channel`` a new text, edited at ``edited_at`` (ms since the
        epoch); returns it as now stored (committed), or None when there is no such message
        (or it was deleted). Its id, author and timestamp stay."""
        ...

    async def recent_messages(self, channel: str, limit: int) -> list[Message]:
        """The last `limit` messages of a channel, oldest first."""
        ...

    async def messages_before(self, channel: str, before_id: int, limit: int) -> list[Message]:
        """Up to `limit` messages of a channel with id < before_id, the newest of those,
        oldest first (one page further back in history)."""
        ...

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
        """Recent messages of these channels, users and the last committed id, as of one
        moment.

        The users are the ``users_max`` most recently seen (all when None; of two seen at
        the same time, the newer user) of those last seen at or after ``seen_since``, plus
        the users ``including`` whatever the cut (those that still exist; the ones outside
        the cut are named in ``outside_cut``), in creation order.

        ``skip_online``: leave out of the cut, and do not count against ``users_max``, the
        users the store's own cluster presence holds online (their caller mirrors them) and
        those it has not shown yet (created, their first arrival not yet logged: the caller
        learns of them from that arrival). Only a store that keeps cluster presence (Redis)
        has any; the others leave nobody out. ``including`` users are listed all the same.
        """
        ...

    async def list_users(self) -> list[User]:
        """Every user that has not left, in the order they were created."""
        ...

    async def close(self) -> None:
        """Release resources; the store is not used afterwards."""
        ...
