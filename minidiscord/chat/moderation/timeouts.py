"""Timeouts: until when (wall-clock ms, the chat's injectable clock) a user may not send.

Kept by each server in memory (in cluster mode every node learns each one from the log): a
restart forgets them, which a timeout (minutes, at most days) can afford; a ban is stored."""

from collections.abc import Callable


class Timeouts:
    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._until: dict[str, int] = {}

    def set(self, user_id: str, until: int) -> None:
        """Time the user out until then (replacing a timeout it had)."""
        self._until[user_id] = until

    def until(self, user_id: str) -> int | None:
        """When the user's timeout ends, if it has one now."""
        until = self._until.get(user_id)
        if until is not None and until <= self._clock():
            del self._until[user_id]
            return None
        return until
