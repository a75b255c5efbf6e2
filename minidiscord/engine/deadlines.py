"""One task keeps every session's next deadline: heartbeat, pong timeout, connect timer.

A task per session sleeping until its own deadline costs several KB per idle connection
(the task, its scopes, its event); a heap entry costs about a hundred bytes. Entries are
never removed early: a session that moves its deadline pushes a new entry, and the old
one is skipped when it comes up (each session has at most a few).
"""

import heapq
import itertools
import logging
import math
from typing import Protocol

import trio

logger = logging.getLogger("minidiscord.engine")


class HasDeadline(Protocol):
    def deadline_reached(self, at: float, now: float) -> None:
        """Called once trio time reaches ``at``, which may since have been replaced."""


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, HasDeadline]] = []
        self._order = itertools.count()
        self._earlier = trio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, owner: HasDeadline, at: float) -> None:
        entry = (at, next(self._order), owner)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._earlier.set()

    async def run(self) -> None:
        heap = self._heap
        while True:
            with trio.move_on_at(heap[0][0] if heap else math.inf):
                await self._earlier.wait()
            self._earlier = trio.Event()
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                at, _, owner = heapq.heappop(heap)
                try:
                    owner.deadline_reached(at, now)
                except Exception:
                    # A bug behind one deadline must not stop everyone's heartbeat.
                    logger.exception("a deadline handler failed")
