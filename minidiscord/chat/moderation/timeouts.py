"""Timeouts: until when (wall-clock ms, the chat's injectable clock) a user may not send.

Each server's copy, read at every send without a store read: stored in the account store
(`Moderation.time_out`), loaded at start (a restart keeps them), and told to every node by
the timeout effect (the log in cluster mode)."""

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
