"""Feed: the seam between "committed" and "visible" in the chat.

On one node (no feed) the chat makes events visible itself, right after the store
committed them, in commit order (``Sequencer``). In cluster mode the chat commits to the
shared store and only the node's log reader makes events visible, to every node's sockets
in log order; the chat then talks to a Feed for what the cluster must know (a socket
arriving or going) and to wait until this node has shown what was committed.
"""

from contextlib import AbstractContextManager
from typing import Any, Protocol

from .cluster.reader import LogSink
from .models import User


class Feed(Protocol):
    """What the chat needs from cluster mode."""

    def attach(self, sink: LogSink) -> None:
        """The sink that applies log entries (the chat); before ``start``."""
        ...

    async def arrive(self, socket_id: str, user: User) -> None:
        """Register a socket of ``user`` and return once this node has applied the log
        through the user coming online (announced as new, a `user:join`, when no connect
        snapshot could have listed it yet: the store's mark says so, not the caller).
        Raises ConnectionRefused when it cannot (Redis unavailable)."""
        ...

    def offset_at(self, position: int) -> AbstractContextManager[None]:
        """Within it, events the chat sends carry the recovery offset of log position
        ``position`` (the connect greeting: its history and users are of that position)."""
        ...

    def depart(self, socket_id: str) -> None:
        """A registered socket went (never waits)."""
        ...

    async def shown(self, position: int) -> bool:
        """Until this node applied the log through ``position`` (bounded; False if not)."""
        ...

    async def announce(self, effect: dict[str, Any]) -> None:
        """Append a moderation effect to the log and wait (bounded) until this node applied
        it (every node applies it to its own sockets). Raises StoreWriteError when Redis
        does not take it."""
        ...

    async def caught_up(self) -> bool:
        """Until this node applied everything committed so far (bounded; False if not)."""
        ...
