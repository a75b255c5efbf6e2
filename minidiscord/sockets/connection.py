"""What the Socket.IO layer needs of one Engine.IO connection, and nothing more.

:class:`~minidiscord.engine.EngineSession` provides it; the Socket.IO layer never names the
engine's classes, so another transport (a test double, a cluster's remote connection) only
has to offer these members.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, Self

from ..engine.reasons import CloseReason
from ..protocol.engineio import Frame


class RequestView(Protocol):
    """What the application may know of the request that opened the connection."""

    @property
    def address(self) -> str:
        """The client's "ip:port" (behind a trusted proxy, the client the proxy named)."""

    @property
    def address_key(self) -> str:
        """What per-address limits count the client as (an IPv6 client by its /64)."""

    @property
    def headers(self) -> dict[str, str]: ...

    @property
    def query(self) -> dict[str, str]: ...


class BroadcastQueue(Protocol):
    """Where a broadcast queues one connection's frames (the engine's outbox)."""

    def put_direct_many(self, queues: Sequence[Self], frame: Frame) -> None:
        """``frame`` for each of ``queues`` (of this one's engine), in one loop, as
        :meth:`EngineConnection.send_frame_direct` would queue it for each connection: a
        connection over its limits is dropped."""


class EngineConnection(Protocol):
    """One client's Engine.IO connection, as the Socket.IO layer drives it."""

    @property
    def sid(self) -> str: ...

    @property
    def request(self) -> RequestView: ...

    @property
    def max_payload(self) -> int:
        """The most one message may carry (binary attachments of one packet together)."""

    @property
    def established(self) -> bool:
        """The layer above accepted the client (see :meth:`establish`)."""

    def establish(self) -> None:
        """The client connected to a namespace: no longer half-open."""

    @property
    def writable(self) -> bool:
        """The client can take a frame now: nothing is queued for it and its transport
        waits for frames (a volatile packet is dropped otherwise)."""

    def send_frame(self, frame: Frame) -> None:
        """Queue one encoded frame; never blocks (a client that cannot keep up is dropped)."""

    def send_frame_direct(self, frame: Frame) -> None:
        """As :meth:`send_frame`, but written in the next round of direct writes when
        nothing is queued for it and its transport allows (a broadcast's path: one frame
        each for many clients, where a wake-up per client would cost more than the write)."""

    @property
    def broadcast_queue(self) -> BroadcastQueue:
        """This connection's queue, for a broadcast to put a frame into many connections'
        queues in one loop (cheaper than a :meth:`send_frame_direct` per recipient)."""

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task that is cancelled when the connection closes."""

    def set_timer(self, at: float | None, callback: Callable[[], None] | None = None) -> None:
        """Call ``callback`` at trio time ``at`` (one timer; None clears it)."""

    def refuse(self, label: str, detail: str, *, reason: CloseReason = ...) -> None:
        """Close over something the client did wrong, counted under ``label``."""

    def close(self, reason: CloseReason, *, flush: bool = True) -> None:
        """Close the connection; with ``flush``, after what is queued is delivered."""
