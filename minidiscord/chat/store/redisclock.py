"""Redis's clock as a node knows it: a caller's deadline (trio's clock) in Redis's time.

The store's write scripts refuse to write once Redis's own clock (``TIME``) has passed the
deadline they were sent with, so that a write whose caller was told it failed cannot be
applied later (a frozen Redis thawed, a cut link mended). That deadline must be in Redis's
clock, so the node keeps the offset between the two clocks, measured with ``TIME``.

A ``TIME`` reply was read by Redis at some moment before the node received it, so
``redis_time - received`` is a lower bound of the true offset (``redis_time - node_time`` at
one instant): a deadline converted with it is never later, in Redis's time, than the
node's. A delayed reply only makes the bound lower (writes refused sooner, never later);
the highest of the recent bounds is the closest one. Redis's clock is its wall clock: were it
stepped back by more than the store's margin within the window, a write could be applied
that long after its deadline.
"""

import math
from collections import deque
from collections.abc import Sequence
from typing import Final

# Measurements kept: the best of the recent ones is used, so one slow reply costs nothing,
# and a stepped wall clock in Redis is followed within this many measurements.
WINDOW: Final = 8
MICROSECONDS: Final = 1_000_000


class RedisClock:
    """The offset from trio's clock to Redis's, from ``TIME`` replies (see module
    docstring). ``observe`` each reply with when it was received; ``redis_deadline``
    converts a trio deadline. ``forget`` when the connection (maybe the server) changes."""

    def __init__(self, window: int = WINDOW) -> None:
        # Lower bounds of Redis's time minus trio's, in microseconds.
        self._bounds: deque[int] = deque(maxlen=window)
        self._measured_at = -math.inf

    @property
    def known(self) -> bool:
        """Whether any ``TIME`` reply was observed since the last ``forget``."""
        return bool(self._bounds)

    @property
    def measured_at(self) -> float:
        """When (trio time) the last reply observed was received; -inf if none."""
        return self._measured_at

    def observe(self, reply: Sequence[bytes | str | int], received: float) -> None:
        """Take a ``TIME`` reply (seconds and microseconds, as Redis sends them) received at
        trio time ``received`` (or later: that only lowers the bound)."""
        self._measured_at = received
        seconds, micros = reply
        redis_now = int(seconds) * MICROSECONDS + int(micros)
        # Rounded up: a later receipt gives a lower, still safe, bound.
        self._bounds.append(redis_now - math.ceil(received * MICROSECONDS))

    def forget(self) -> None:
        """Drop every measurement (a new connection may reach another server)."""
        self._bounds.clear()
        self._measured_at = -math.inf

    def redis_deadline(self, deadline: float) -> int:
        """``deadline`` (trio time, seconds) as Redis's ``TIME`` in microseconds: when Redis
        reads a time up to this, the node's clock has not passed ``deadline``."""
        if not self._bounds:
            raise RuntimeError("Redis's clock is not known yet: observe a TIME reply first")
        return math.floor(deadline * MICROSECONDS) + max(self._bounds)
