"""Connection state recovery (socket.io >= 4.6): a client whose connection dropped gets back,
within a window, its socket id, rooms and ``data``, and the packets it missed meanwhile.

How it goes, as in the reference server:

- With ``SocketServer(connection_state_recovery=Recovery(...))`` every socket gets a private
  session id, ``pid``, sent in the CONNECT answer beside ``sid``.
- Every broadcast EVENT without an ack and not volatile (a socket's own ``emit`` is one, to
  the room of its id) gets an *offset* appended as its last argument, and the adapter keeps
  its encoded frames, with whom it was for, for the window (:class:`PacketLog`).
- A socket that leaves for a reason in :data:`RECOVERABLE_REASONS` (its transport closed or
  failed, a ping went unanswered, the server shut down: never a client's or the server's own
  namespace disconnect) has its session persisted through its adapter.
- A client sending ``{"pid": ..., "offset": ...}`` in its CONNECT auth (the last offset it
  saw) within the window gets the same socket back, ``socket.recovered`` true, then every
  kept packet after that offset addressed to its rooms, in order; the connect middlewares
  are skipped with ``skip_middlewares``. Otherwise it is a new socket, ``recovered`` false.

Memory is bounded: a packet older than the window, or beyond ``max_buffered_packets`` or
``max_buffered_bytes``, is dropped, and so is a session older than the window. A session
whose missed packets were dropped, or would be more than ``max_missed_packets``, cannot be
recovered: the client gets a new socket, as if its session had expired.
"""

import itertools
import secrets
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from ..engine.reasons import CloseReason
from ..oldest_first import drop_stale_front
from ..protocol.engineio import Frame
from ..protocol.socketio import Packet
from .adapter import BroadcastOptions
from .packets import frames_of

# The reference's list, in our engine's words. FORCED_CLOSE is not in it: our engine closes
# with it only when the server meant the client to go (``socket.disconnect(close=True)``).
RECOVERABLE_REASONS: frozenset[str] = frozenset(
    {
        CloseReason.TRANSPORT_CLOSE,
        CloseReason.TRANSPORT_ERROR,
        CloseReason.PING_TIMEOUT,
        CloseReason.SERVER_SHUTTING_DOWN,
    }
)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The options of connection state recovery (``SocketServer(connection_state_recovery=)``).

    ``max_disconnection_duration``: seconds a session and the packets sent meanwhile are
    kept (the reference's default, two minutes). ``skip_middlewares``: a recovered socket
    does not go through the connect middlewares again. ``max_missed_packets``: a session
    that missed more than this many packets is not recovered (as if expired).
    ``max_buffered_packets`` and ``max_buffered_bytes``: the most packets, and encoded
    bytes (characters of a text frame), a namespace keeps; the oldest are dropped first.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_missed_packets: int = 1_000
    max_buffered_packets: int = 100_000
    max_buffered_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.max_disconnection_duration <= 0:
            raise ValueError("max_disconnection_duration is positive")
        if (
            self.max_missed_packets < 0
            or min(self.max_buffered_packets, self.max_buffered_bytes) < 1
        ):
            raise ValueError(
                "max_missed_packets >= 0, max_buffered_packets and max_buffered_bytes >= 1"
            )


@dataclass(slots=True)
class Session:
    """A disconnected socket's state, as ``Adapter.persist_session`` keeps it and
    ``Adapter.restore_session`` gives it back (then with ``missed``: the frames of the
    packets sent to it since the client's offset, in order, ready to send)."""

    sid: str
    pid: str
    rooms: frozenset[str]
    data: dict[str, Any]
    missed: Sequence[tuple[Frame, ...]] = field(default=())


class Recorder(Protocol):
    """What stamps a recoverable broadcast with its offset and keeps it (the in-memory
    adapter's :class:`PacketLog`, or an adapter's own record whose offsets mean something
    else, such as the positions of a log every server reads)."""

    def record(self, packet: Packet, opts: BroadcastOptions) -> tuple[Frame, ...]:
        """The event with its offset appended as its last argument, kept, as frames."""
        ...

    def unkept(self) -> AbstractContextManager[None]:
        """Events recorded within carry the offset of the last one kept and are not kept
        themselves (see :meth:`PacketLog.unkept`)."""
        ...


@dataclass(slots=True)
class Kept:
    """One kept broadcast: its place (``key``: a sequence number or a log position, rising),
    when it was kept (trio time), whom it was for, and its frames."""

    key: int
    at: float
    opts: BroadcastOptions
    frames: tuple[Frame, ...]
    size: int


class KeptBroadcasts:
    """Broadcasts kept for a recovery window, oldest first, at most ``max_buffered_packets``
    of them and ``max_buffered_bytes`` of frames; ``dropped_up_to`` is the key of the last
    one dropped (-1: none since :meth:`clear`)."""

    __slots__ = ("bytes", "dropped_up_to", "items")

    def __init__(self) -> None:
        self.items: deque[Kept] = deque()
        self.bytes = 0
        self.dropped_up_to = -1

    def keep(self, kept: Kept, recovery: Recovery) -> None:
        """Keep one more (the caller dropped those older than the window), then drop the
        oldest while over either bound."""
        self.items.append(kept)
        self.bytes += kept.size
        while self.items and (
            len(self.items) > recovery.max_buffered_packets
            or self.bytes > recovery.max_buffered_bytes
        ):
            self._drop_first()

    def drop_older_than(self, threshold: float) -> None:
        items = self.items
        while items and items[0].at < threshold:
            self._drop_first()

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0
        self.dropped_up_to = -1

    def _drop_first(self) -> None:
        dropped = self.items.popleft()
        self.bytes -= dropped.size
        self.dropped_up_to = dropped.key


def stamped(packet: Packet, offset: str) -> Packet:
    """The packet with its offset as the event's last argument (what a client keeps)."""
    data = packet.data
    assert isinstance(data, list)
    return Packet(packet.type, packet.namespace, [*data, offset], packet.id)


def reaches(rooms: frozenset[str], opts: BroadcastOptions) -> bool:
    """Whether a broadcast with ``opts`` was for a socket in ``rooms``."""
    if opts.rooms and rooms.isdisjoint(opts.rooms):
        return False
    return not opts.except_ or rooms.isdisjoint(opts.except_)


class PacketLog:
    """One namespace's kept packets and persisted sessions (the in-memory adapter's).

    An offset is ``"<epoch>-<n>"``: ``n`` counts the namespace's recorded packets (from 1;
    0 is before the first), so a packet is found by arithmetic rather than a search, and
    ``epoch`` is random per log, so an offset from another server process (or an earlier
    run) is never taken for one here.
    """

    def __init__(self, recovery: Recovery) -> None:
        self.recovery = recovery
        self._epoch = secrets.token_hex(4)
        self._packets = KeptBroadcasts()
        # The sequence number of the next packet kept.
        self._next = 1
        self._keeping = True
        # pid -> (session, disconnected at); in the order persisted, so the oldest is first.
        self._sessions: dict[str, tuple[Session, float]] = {}

    def __len__(self) -> int:
        return len(self._packets.items)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def record(self, packet: Packet, opts: BroadcastOptions) -> tuple[Frame, ...]:
        """Append the next offset to the event, keep its frames, and return them; within
        :meth:`unkept`, the last offset, and keep nothing."""
        if not self._keeping:
            return frames_of(stamped(packet, f"{self._epoch}-{self._next - 1}"))
        seq = self._next
        self._next += 1
        frames = frames_of(stamped(packet, f"{self._epoch}-{seq}"))
        now = trio.current_time()
        self._drop_old(now)
        size = sum(len(frame) for frame in frames)
        self._packets.keep(Kept(seq, now, opts, frames, size), self.recovery)
        return frames

    @contextmanager
    def unkept(self) -> Iterator[None]:
        """Events recorded within carry the offset of the last packet kept and are not kept:
        for what a socket is sent once as it connects (a greeting) before anything kept
        reaches it. A client holding that offset got the greeting, so it never needs it
        again, and recovers every packet kept after it; nobody else was sent it. Whatever
        of the greeting comes before its last packet goes unstamped, so that a client
        holding an offset got all of it (a client cut off before has none, and connects
        anew)."""
        self._keeping = False
        try:
            yield
        finally:
            self._keeping = True

    @property
    def buffered_bytes(self) -> int:
        """The encoded size of the kept packets."""
        return self._packets.bytes

    def _drop_old(self, now: float) -> None:
        threshold = now - self.recovery.max_disconnection_duration
        self._packets.drop_older_than(threshold)
        drop_stale_front(self._sessions, lambda kept: kept[1] < threshold)

    def persist(self, session: Session) -> None:
        """Keep a disconnected socket's session for the window."""
        now = trio.current_time()
        self._drop_old(now)
        self._sessions.pop(session.pid, None)
        self._sessions[session.pid] = (session, now)

    def restore(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` with the packets after ``offset`` for its rooms, or None when
        it is unknown, expired, or its missed packets are not all kept or are too many.
        A session is restored once: it is forgotten either way."""
        now = trio.current_time()
        self._drop_old(now)
        kept = self._sessions.pop(pid, None)
        if kept is None:
            return None
        session = kept[0]
        epoch, _, number = offset.rpartition("-")
        if epoch != self._epoch or not number.isdigit():
            return None
        after = int(number) + 1
        # Sequence numbers are consecutive and every drop is of the oldest.
        items = self._packets.items
        first = items[0].key if items else self._next
        if after < first or after > self._next:
            # Some packet it missed is no longer kept (or the offset is not ours).
            return None
        cap = self.recovery.max_missed_packets
        missed: list[tuple[Frame, ...]] = []
        for packet in itertools.islice(items, after - first, None):
            if reaches(session.rooms, packet.opts):
                if len(missed) == cap:
                    return None
                missed.append(packet.frames)
        return Session(session.sid, session.pid, session.rooms, session.data, missed)
