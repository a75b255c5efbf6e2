"""Reconnection delays: exponential backoff with jitter, as socket.io-client computes them.

Pure arithmetic: the random source is passed in, so a test can pin the jitter.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnection attempt ``n`` (0-based): ``delay * 2**n`` moved up or down by
    up to ``randomization_factor`` of itself, then capped at ``delay_max``.

    The defaults are socket.io-client's (1 s, 5 s, 0.5): successive delays start near 1, 2,
    4 s and stay near 5 s, each within +/-50 %, so that clients cut off together do not all
    come back in the same instant.
    """

    delay: float = 1.0
    delay_max: float = 5.0
    randomization_factor: float = 0.5
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.delay < 0 or self.delay_max < 0:
            raise ValueError("reconnection delays cannot be negative")
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("randomization_factor must be between 0 and 1")

    def duration(self, attempt: int, random: Callable[[], float]) -> float:
        """The delay before attempt ``attempt`` (0 for the first), in seconds."""
        # Capping the exponent keeps the float finite after thousands of attempts.
        base = self.delay * self.factor ** min(attempt, 64)
        if self.randomization_factor:
            roll = random()
            deviation = roll * self.randomization_factor * base
            # One draw picks both the size and, from its first decimal, the direction.
            base = base - deviation if int(roll * 10) % 2 == 0 else base + deviation
        return max(0.0, min(base, self.delay_max))
