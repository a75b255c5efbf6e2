"""Timeouts: until when (wall-clock ms, the chat's injectable clock) a user may not send."""

import math
from collections.abc import Callable


class Timeouts:
    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._until: dict[str, int] = {}

    def start(self, user_id: str, seconds: float) -> int:
        """Time the user out for ``seconds`` from now (replacing a timeout it had);
        returns when it ends."""
        until = self._clock() + math.ceil(seconds * 1000)
        self._until[user_id] = until
        return until

    def until(self, user_id: str) -> int | None:
        """When the user's timeout ends, if it has one now."""
        until = self._until.get(user_id)
        if until is not None and until <= self._clock():
            del self._until[user_id]
            return None
        return until
