"""Token buckets: how often something may happen, per key, with time passed in (sans-I/O)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``burst`` at once, refilled at ``per_second``."""

    burst: int
    per_second: float

    def __str__(self) -> str:
        return f"{self.burst}:{self.per_second:g}"


class SettingsFormatError(ValueError):
    pass


def parse_rate(text: str) -> Rate | None:
    """``BURST:PER_SECOND`` (e.g. ``10:1``), or ``off`` for no limit."""
    if text.strip().lower() == "off":
        return None
    burst_text, sep, rate_text = text.partition(":")
    try:
        burst = int(burst_text)
        per_second = float(rate_text)
    except ValueError:
        raise SettingsFormatError(f"{text!r} is not BURST:PER_SECOND or off") from None
    if not sep or burst < 1 or not 0 < per_second < 1e9:
        raise SettingsFormatError(f"{text!r} needs a burst >= 1 and a rate > 0")
    return Rate(burst, per_second)


class TokenBucket:
    __slots__ = ("_stamp", "_tokens", "rate")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self._tokens = float(rate.burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self.rate.burst), self._tokens + elapsed * self.rate.per_second)
        self._stamp = now

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, otherwise the seconds until one is available."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate.per_second

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0: now), without spending one."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate.per_second

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.rate.burst


class KeyedBuckets:
    """One bucket per key (user, address); full buckets are forgotten so memory stays bounded
    by the keys active within the last ``burst / per_second`` seconds."""

    def __init__(self, rate: Rate | None) -> None:
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}
        self._next_sweep = 0.0

    def take(self, key: str, now: float) -> float:
        if self.rate is None:
            return 0.0
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, now)
        return bucket.take(now)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may take a token (0.0: now), without taking one: for limits
        charged only when something fails (wrong passwords), checked before trying."""
        bucket = self._buckets.get(key) if self.rate is not None else None
        return 0.0 if bucket is None else bucket.wait(now)

    def _sweep(self, now: float) -> None:
        assert self.rate is not None
        self._buckets = {key: b for key, b in self._buckets.items() if not b.full(now)}
        self._next_sweep = now + max(1.0, self.rate.burst / self.rate.per_second)

    def __len__(self) -> int:
        return len(self._buckets)


class ByteBudgets:
    """Bytes held on behalf of each key (a client address), each against the same limit.

    For memory a client makes the server hold while it sends: unfinished WebSocket
    messages, request bodies being read. A key holding nothing is forgotten.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def hold(self, key: str, size: int) -> bool:
        """Count ``size`` more bytes for ``key``; False (nothing counted) past the limit."""
        held = self._held.get(key, 0) + size
        if self.limit is not None and held > self.limit:
            return False
        self._held[key] = held
        return True

    def release(self, key: str, size: int) -> None:
        left = self._held.get(key, 0) - size
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)

    def held(self, key: str) -> int:
        return self._held.get(key, 0)
