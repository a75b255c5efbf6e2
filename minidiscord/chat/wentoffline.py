"""WentOffline: cluster mode's record of who the log lately showed going offline.

A connect snapshot read from Redis leaves out the users online anywhere at that moment (the
node mirrors them). One of them who goes offline before the new socket joins is then in
neither the mirror nor the snapshot; this record lists them, from the log entries after the
snapshot's position, so that the `users` list is what a full read would have given.
"""

from collections.abc import Iterator

import trio

from minidiscord.oldest_first import drop_stale_front

from .models import User


class WentOffline:
    """The users last shown going offline, by log position, kept for ``keep`` seconds
    (trio time): far longer than a connect takes from its read to its join."""

    def __init__(self, keep: float) -> None:
        self._keep = keep
        # userId -> (log position, the user, when seen last (ms since the epoch), trio
        # time noted); in position order: a user noted again moves to the end.
        self._entries: dict[str, tuple[int, User, int, float]] = {}

    def note(self, position: int, user: User, seen_ms: int) -> None:
        """The log showed ``user`` going offline at ``position``."""
        now = trio.current_time()
        entries = self._entries
        entries.pop(user.user_id, None)
        drop_stale_front(entries, lambda entry: entry[3] < now - self._keep)
        entries[user.user_id] = (position, user, seen_ms, now)

    def forget(self, user_id: str) -> None:
        """The user left: they are not listed at all any more."""
        self._entries.pop(user_id, None)

    def since(self, position: int) -> Iterator[tuple[User, int]]:
        """The users shown going offline after ``position``, each with when last seen
        (newest first: only the entries after ``position`` are walked)."""
        for at, user, seen_ms, _ in reversed(self._entries.values()):
            if at <= position:
                return
            yield user, seen_ms

    def __len__(self) -> int:
        return len(self._entries)
