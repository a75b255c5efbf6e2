"""The users as `minidiscord admin` sees them (listing, searching, pruning guests), beside a
server that may be running on the same store.

Two ways in, one protocol: on SQLite the account store's own connection reads and writes
the chat's `users` table (the running server holds the chat store's lock, not the file's);
on Redis the chat store itself, whose `delete_user` appends `leave` to the log, so every
running node drops a pruned guest from its users list at once and tells its clients.
"""

from dataclasses import dataclass
from typing import Protocol

from ..models import Role, User
from ..store.base import Store


@dataclass(frozen=True, slots=True)
class Listed:
    user: User
    last_seen: int  # ms since the epoch; 0: never


class Directory(Protocol):
    async def listed(self) -> list[Listed]:
        """Every user, in creation order."""
        ...

    async def prune_guests(self, seen_before: int) -> list[User]:
        """Remove the guests last seen before that time (ms); returns who went."""
        ...

    async def set_user_role(self, user_id: str, role: Role) -> None:
        """The chat user's stored role (what the `users` list shows while it is offline)."""
        ...


class StoreDirectory:
    """The chat store's users (Redis: reachable while servers run)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def listed(self) -> list[Listed]:
        snapshot = await self._store.snapshot((), 0)
        return [Listed(u, snapshot.seen.get(u.user_id, 0)) for u in snapshot.users]

    async def prune_guests(self, seen_before: int) -> list[User]:
        gone = []
        for entry in await self.listed():
            stale = entry.user.role is Role.GUEST and entry.last_seen < seen_before
            if stale and await self._store.delete_user(entry.user.user_id):
                gone.append(entry.user)
        return gone

    async def set_user_role(self, user_id: str, role: Role) -> None:
        await self._store.set_role(user_id, role)


def matching(entries: list[Listed], search: str | None) -> list[Listed]:
    """The entries whose name or id contains ``search`` (casefolded)."""
    if not search:
        return entries
    wanted = search.casefold()
    return [e for e in entries if wanted in e.user.username.casefold() or wanted in e.user.user_id]
