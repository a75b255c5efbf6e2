"""The adapter seam: the one interface through which a namespace's rooms, broadcasts, bulk
operations and server-side emits go, so that another adapter (a cluster's) can take them.

Every namespace has one adapter, made by the server's adapter factory
(``SocketServer(adapter=...)``, :class:`~minidiscord.sockets.InMemoryAdapter` by default).
The rest of the Socket.IO layer never reaches rooms or recipients any other way: a socket's
``join``/``leave``, a namespace's or socket's broadcast, ``fetch_sockets``, ``sockets_join``,
``sockets_leave``, ``disconnect_sockets``, ``close_room`` and ``server_side_emit`` all call
it. socket.io 4.8's ``Adapter`` (socket.io-adapter) is the model, names in snake_case.

Which methods are async and which are not is the contract:

- Membership (``add_all``, ``del_``, ``del_all``, ``socket_rooms``, ``sockets``, ``rooms``)
  is this node's own state, kept in memory: synchronous.
- ``broadcast`` is synchronous and must not block: it encodes the packet once and hands the
  same frames to every local recipient (``Socket.deliver_frame``), which is what keeps
  fan-out fast. A cluster adapter delivers locally the same way and queues the message for
  the other nodes (a bounded channel its own task drains); it never awaits the network here.
- ``add_sockets``, ``del_sockets``, ``disconnect_sockets`` and ``server_side_emit`` without
  an answer are fire-and-forget, as in the reference: synchronous, same rule.
- What needs the other nodes' answers is async: ``broadcast_with_ack`` (publishing, then the
  answers come through its callbacks), ``fetch_sockets``, ``server_side_emit_with_ack`` and
  ``server_count``.
- Connection state recovery (:mod:`minidiscord.sockets.recovery`, when the namespace's
  ``recovery`` is set): ``broadcast`` appends an offset to each EVENT without an ack that
  is not volatile and keeps it for the window; ``persist_session`` is fire-and-forget
  (synchronous); ``restore_session`` may need a shared store: async.

An adapter has a life of its own (what a networked adapter needs for its tasks: a reader
of the other servers' messages, a writer, a heartbeat), as the reference's ``init()`` and
``close()``: the server's lifespan runs ``run`` of every namespace's adapter when it starts
(before the engine takes sessions; a namespace made later, a dynamic namespace's child
included, gets its adapter started when it is made), and calls ``close`` at shutdown, after
the engine has closed every session (so that sessions persisted on the way out are still
written); a dynamic namespace's child that is cleaned up closes its adapter then. The
in-memory adapter's are no-ops.

``BroadcastOptions`` select the sockets: those in any of ``rooms`` (every socket of the
namespace when empty), less those in any of ``except_`` rooms. A socket is always in the
room named by its own id, so a socket id works as a room.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import trio

from ..protocol.socketio import Packet
from ..records import record

if TYPE_CHECKING:
    from .namespace import Namespace
    from .recovery import Session
    from .socket import Handshake


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """How a broadcast or bulk operation is carried out.

    ``volatile``: dropped for a recipient that cannot take it now rather than queued (see
    :attr:`Socket.writable <minidiscord.sockets.Socket.writable>`). ``local``: this node's
    sockets only (with the in-memory adapter every socket is local). ``timeout``: seconds to
    wait for acknowledgements (``emit_with_ack``).
    """

    volatile: bool = False
    local: bool = False
    timeout: float | None = None


NO_FLAGS = BroadcastFlags()


@record
class BroadcastOptions:
    """Which sockets an operation reaches: in any of ``rooms`` (all when empty), and in none
    of ``except_``; and its :class:`BroadcastFlags`. A record (one is made per emit)."""

    rooms: frozenset[str] = frozenset()
    except_: frozenset[str] = frozenset()
    flags: BroadcastFlags = NO_FLAGS


@dataclass(frozen=True, slots=True)
class SocketDetails:
    """What ``fetch_sockets`` knows of a socket, wherever it is connected.

    For a socket of this node, ``data`` is the socket's own dict (changes show); a cluster
    adapter returns a copy for a socket of another node (as the reference does), with a
    :class:`Handshake` rebuilt over any :class:`~minidiscord.sockets.connection.RequestView`.
    """

    id: str
    handshake: "Handshake"
    rooms: frozenset[str]
    data: dict[str, Any]


class Adapter(Protocol):
    """Rooms, membership, broadcasts and bulk operations of one namespace (see the module
    docstring for which methods may await and why)."""

    @property
    def namespace(self) -> "Namespace":
        """The namespace this adapter serves."""

    # Lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the adapter's own tasks: ``task_status.started()`` once it can serve (never
        waiting on the network: a server starts while its cluster is unreachable), and
        return once :meth:`close` was called and what it owed is done (bounded in time).
        An adapter without tasks starts and returns at once."""

    def close(self) -> None:
        """Stop: ``run`` finishes (flushing what it must, within a bound) and returns; a
        closed adapter is never started again. Idempotent."""

    # Membership (this node) -----------------------------------------------------------

    @property
    def rooms(self) -> Mapping[str, AbstractSet[str]]:
        """This node's rooms: each room's socket ids (a room with no one in it is absent)."""

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Socket ``sid`` (of this node) joins ``rooms``."""

    def del_(self, sid: str, room: str) -> None:
        """Socket ``sid`` leaves ``room``."""

    def del_all(self, sid: str) -> None:
        """Socket ``sid`` leaves every room (it is leaving the namespace)."""

    def socket_rooms(self, sid: str) -> AbstractSet[str]:
        """The rooms socket ``sid`` of this node is in (empty when it is unknown)."""

    def sockets(self, rooms: AbstractSet[str]) -> set[str]:
        """Ids of this node's sockets in any of ``rooms`` (every socket when empty)."""

    # Broadcasts -----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` (its namespace is this one) to every selected socket: encoded
        once, never waiting on a client. Volatile: skip a socket that cannot take it now.
        When some socket of the namespace has an outgoing catch-all listener
        (``namespace.watching_outgoing`` is not empty, one check per broadcast), show the
        event to the recipients' listeners (``catchall.notify_recipients``), as
        ``broadcast_with_ack`` does too."""

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        """Broadcast ``packet`` (its ``id`` set) asking each recipient to acknowledge it.

        The id is the sending server's (``namespace.ack_ids``): a server applying another's
        request gives the packet an id from its own namespace's counter, and forgets it on
        its own sockets after ``opts.flags.timeout``.

        ``client_count(n)`` is called once per node with how many sockets it sent the packet
        to (the in-memory adapter calls it before returning); ``ack(response)`` once per
        answer, with the client's first ack argument (None when it sent none), whenever
        it arrives. The caller stops waiting at its own timeout.
        """

    def remove_acks(self, ack_id: int, opts: BroadcastOptions) -> None:
        """The caller stopped waiting for ack ``ack_id``: forget it on the selected sockets
        (late answers are then ignored, and nothing is kept for ever)."""

    # Bulk operations ------------------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The selected sockets, of every node (this node's only with ``flags.local``)."""

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        """Every selected socket joins ``rooms``."""

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        """Every selected socket leaves ``rooms``."""

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Every selected socket is disconnected (``close``: its whole connection too)."""

    # Connection state recovery ---------------------------------------------------------

    def persist_session(self, session: "Session") -> None:
        """Keep a socket's session (it left for a recoverable reason) for
        ``namespace.recovery.max_disconnection_duration`` seconds."""

    async def restore_session(self, pid: str, offset: str) -> "Session | None":
        """The session ``pid`` with ``missed`` set to the frames of every packet kept
        after ``offset`` that was for its rooms, in order; None when it cannot be
        recovered (unknown, expired, a missed packet no longer kept, more missed than
        ``max_missed_packets``). A session is given back at most once."""

    # The other servers ----------------------------------------------------------------

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        """Send an event to the other servers' namespace of this name (not to clients)."""

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        """Send an event to the other servers and wait for each one's answer; raises
        :class:`~minidiscord.sockets.ServerSideEmitTimeout` (carrying the answers received)
        when some did not answer within ``timeout`` seconds."""

    async def server_count(self) -> int:
        """How many servers (this one included) share this namespace."""


AdapterFactory = Callable[["Namespace"], Adapter]
"""Makes a namespace's adapter: ``SocketServer(adapter=...)`` takes one (a class will do)."""
