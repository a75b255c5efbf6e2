"""A server's own counts of what it sent, read from its Prometheus ``/metrics``: the frames
it queued, and (native front end) its rounds of direct writes and the writes they made."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

FRAMES_DELIVERED = b"minidiscord_frames_delivered_total"
ROUNDS = b"minidiscord_direct_write_rounds_total"
ROUND_WRITES = b"minidiscord_direct_write_clients_total"


def _difference(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def _total(one: int | None, other: int | None) -> int | None:
    return None if one is None or other is None else one + other


@dataclass(frozen=True)
class ServerCounts:
    """Counters of one server (or several, added up); None where a server has none."""

    frames: int | None = None
    rounds: int | None = None
    round_writes: int | None = None

    def since(self, earlier: ServerCounts) -> ServerCounts:
        """What was counted between ``earlier`` and these."""
        return ServerCounts(
            _difference(self.frames, earlier.frames),
            _difference(self.rounds, earlier.rounds),
            _difference(self.round_writes, earlier.round_writes),
        )

    def plus(self, other: ServerCounts) -> ServerCounts:
        return ServerCounts(
            _total(self.frames, other.frames),
            _total(self.rounds, other.rounds),
            _total(self.round_writes, other.round_writes),
        )


def parse_counts(text: bytes) -> ServerCounts:
    """The counters of a Prometheus text page (None for those it does not have)."""
    found: dict[bytes, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(b" ")
        if name in (FRAMES_DELIVERED, ROUNDS, ROUND_WRITES):
            found[name] = int(float(value))
    return ServerCounts(found.get(FRAMES_DELIVERED), found.get(ROUNDS), found.get(ROUND_WRITES))


def server_counts(url: str, timeout: float = 5.0) -> ServerCounts:
    """The counters of the server at ``url`` since it started (``frames``: one per recipient
    of a broadcast); all None where it has no ``/metrics`` (another server)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as answer:
            return parse_counts(answer.read())
    except (OSError, ValueError, urllib.error.URLError):
        return ServerCounts()
