"""hypercorn's HTTP/2 connections ignore the client's priority signals (PRIORITY frames, and
the priority fields of HEADERS).

hypercorn kept each signal in its priority tree (the ``priority`` package's), streams the
client never opened included: a PRIORITY frame costs the client 14 bytes and added an entry,
up to 1,000 a connection. Each later signal moved an entry by rebuilding its parent's heap of
children, and the sending task passed over every blocked entry to find a stream with data:
with 990 entries a reprioritisation took 1.4 ms, so the 4,600 PRIORITY frames one 64 KiB read
holds kept the whole server from running for some 6 s, every other client held up, and a
client could go on sending them as long as it liked. A dependency on a stream never seen
added that stream too, and a chain over 100 deep raised from hypercorn's reading (the
connection ended without a GOAWAY).

RFC 9113 (5.3.2) deprecates these signals and lets a server ignore them. Ignored, the tree
holds only the streams hypercorn opened (its own inserts, at most the streams open at once),
all at the default weight: the sending task takes turns between them.
"""

import functools
from collections.abc import Awaitable, Callable

import h2.events
from hypercorn.protocol.h2 import H2Protocol

_INSTALLED_MARK = "_minidiscord_priority_ignored"


def install() -> None:
    """Make hypercorn's HTTP/2 connections ignore priority signals (once per process)."""
    priority_updated: Callable[[H2Protocol, h2.events.PriorityUpdated], Awaitable[None]] = (
        H2Protocol._priority_updated
    )
    if getattr(priority_updated, _INSTALLED_MARK, False):
        return

    @functools.wraps(priority_updated)
    async def ignore_priority(self: H2Protocol, event: h2.events.PriorityUpdated) -> None:
        # h2 has already checked the frame (a stream depending on itself ends the
        # connection); nothing of it is kept.
        return

    setattr(ignore_priority, _INSTALLED_MARK, True)
    H2Protocol._priority_updated = ignore_priority  # type: ignore[method-assign]
