"""Windows kept in insertion-ordered dicts: entries noted oldest first, so the stale ones
are all at the front and pruning walks only them."""

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def drop_stale_front(entries: dict[K, V], stale: Callable[[V], bool]) -> None:
    """Drop the entries at the front of ``entries`` (oldest first) while ``stale`` holds for
    them; the first that is not stale, and everything after it, stays."""
    while entries:
        oldest = next(iter(entries))
        if not stale(entries[oldest]):
            return
        del entries[oldest]
