"""The default adapter: one process holds every socket, so rooms are dicts and a broadcast
is a loop that hands each member the same encoded frames."""

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.socketio import Packet, PacketType
from .adapter import Adapter, BroadcastOptions, SocketDetails
from .catchall import notify_recipients
from .packets import frames_of
from .recovery import PacketLog, Recorder, Session

if TYPE_CHECKING:
    from .namespace import Namespace
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

_EMPTY: frozenset[str] = frozenset()


class _RoomsView(Mapping[str, AbstractSet[str]]):
    """Room -> socket ids, read-only, over the adapter's own dicts (no copy per read)."""

    __slots__ = ("_rooms",)

    def __init__(self, rooms: "dict[str, dict[str, Socket]]") -> None:
        self._rooms = rooms

    def __getitem__(self, room: str) -> AbstractSet[str]:
        return self._rooms[room].keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._rooms)

    def __len__(self) -> int:
        return len(self._rooms)


class InMemoryAdapter(Adapter):
    """The :class:`~minidiscord.sockets.Adapter` of a single server (the default).

    A room maps socket ids to sockets in joining order, so a broadcast reaches members in
    the order they joined and needs no lookup per recipient. With one server there are no
    others: ``local`` changes nothing, ``server_count()`` is 1, ``server_side_emit`` reaches
    no one and ``server_side_emit_with_ack`` answers at once with no answers (as the
    reference's cluster adapter does when it is alone).
    """

    def __init__(self, namespace: "Namespace") -> None:
        self._namespace = namespace
        self._rooms: dict[str, dict[str, Socket]] = {}
        # Socket id -> its rooms, as dict keys: a chat socket is in about seven rooms, and a
        # set of seven takes 728 bytes against 272 for a dict (kept for each socket's life).
        self._sids: dict[str, dict[str, None]] = {}
        self._rooms_view = _RoomsView(self._rooms)
        # Connection state recovery's packets and sessions, made when first needed.
        self._log: PacketLog | None = None

    @property
    def namespace(self) -> "Namespace":
        return self._namespace

    # Lifecycle: nothing runs -----------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def close(self) -> None:
        pass

    # Membership -----------------------------------------------------------------------

    @property
    def rooms(self) -> Mapping[str, AbstractSet[str]]:
        return self._rooms_view

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        socket = self._namespace.sockets.get(sid)
        if socket is None:
            return  # it left the namespace already: nothing may keep it in a room
        joined = self._sids.setdefault(sid, {})
        for room in rooms:
            joined[room] = None
            members = self._rooms.get(room)
            if members is None:
                members = self._rooms[room] = {}
            members[sid] = socket

    def del_(self, sid: str, room: str) -> None:
        joined = self._sids.get(sid)
        if joined is not None:
            joined.pop(room, None)
        self._leave(sid, room)

    def del_all(self, sid: str) -> None:
        for room in self._sids.pop(sid, ()):
            self._leave(sid, room)

    def _leave(self, sid: str, room: str) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.pop(sid, None)
            if not members:
                del self._rooms[room]

    def socket_rooms(self, sid: str) -> AbstractSet[str]:
        joined = self._sids.get(sid)
        return _EMPTY if joined is None else joined.keys()

    def sockets(self, rooms: AbstractSet[str]) -> set[str]:
        return {socket.id for socket in self._select(BroadcastOptions(rooms=frozenset(rooms)))}

    def _select(self, opts: BroadcastOptions) -> Collection["Socket"]:
        rooms = self._rooms
        selected: Collection[Socket]
        if not opts.rooms:
            selected = self._namespace.sockets.values()
        elif len(opts.rooms) == 1:
            (room,) = opts.rooms
            members = rooms.get(room)
            selected = members.values() if members is not None else ()
        else:
            # A socket in several of the rooms gets the packet once.
            merged: dict[str, Socket] = {}
            for room in opts.rooms:
                members = rooms.get(room)
                if members is not None:
                    merged.update(members)
            selected = merged.values()
        if not opts.except_:
            return selected
        excluded: set[str] = set()
        for room in opts.except_:
            members = rooms.get(room)
            if members is not None:
                excluded.update(members)
        return [socket for socket in selected if socket.id not in excluded]

    # Broadcasts -----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        started = time.perf_counter()
        # One attribute read when recovery is off (the fan-out hot path).
        log = self._recovery_log() if self._namespace.recovery is not None else None
        if (
            log is not None
            and packet.type is PacketType.EVENT
            and packet.id is None
            and not opts.flags.volatile
        ):
            # As the reference: an ack cannot be answered on a new connection, and a
            # volatile packet may be lost anyway, so neither is kept.
            frames = log.record(packet, opts)
        else:
            frames = frames_of(packet)
        selected = self._select(opts)
        if opts.flags.volatile:
            selected = [socket for socket in selected if socket.writable]
        # One check per broadcast: the recipients are only looked at one by one when some
        # socket of the namespace has an outgoing catch-all listener.
        watching = self._namespace.watching_outgoing
        if watching:
            event, *args = packet.data
            selected = notify_recipients(selected, watching, event, args)
        # Counted first: the room may be a live view of the adapter's dict.
        recipients = len(selected)
        if len(frames) == 1:
            (frame,) = frames
            # The fan-out hot path: one loop in the engine over the recipients' queues,
            # rather than a few calls per recipient.
            queues = [queue for socket in selected if (queue := socket.broadcast_queue) is not None]
            if len(queues) != recipients:
                # Some are still in their connect handler (the frame waits for the CONNECT
                # answer) or leaving (it is dropped): Socket.deliver_frame knows.
                for socket in selected:
                    if socket.broadcast_queue is None:
                        socket.deliver_frame(frame)
            if queues:
                queues[0].put_direct_many(queues, frame)
        else:
            for socket in selected:
                socket.deliver(frames)
        metrics = self._namespace.metrics
        metrics.frames_delivered.inc(recipients * len(frames))
        metrics.fanout_seconds.observe(time.perf_counter() - started)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        ack_id = packet.id
        if ack_id is None:
            raise ValueError("a broadcast with acks needs the packet's ack id")
        started = time.perf_counter()
        frames = frames_of(packet)

        def answered(*args: Any) -> None:
            ack(args[0] if args else None)

        volatile = opts.flags.volatile
        # A socket already disconnecting (its disconnecting handler still running) is sent
        # nothing, and a volatile packet a client never gets: neither is waited for in vain.
        selected = [
            socket
            for socket in self._select(opts)
            if socket.disconnect_reason is None and (not volatile or socket.writable)
        ]
        watching = self._namespace.watching_outgoing
        if watching:
            event, *args = packet.data
            notify_recipients(selected, watching, event, args)
        for socket in selected:
            socket.expect_ack(ack_id, answered)
            socket.deliver(frames)
        recipients = len(selected)
        metrics = self._namespace.metrics
        metrics.frames_delivered.inc(recipients * len(frames))
        metrics.fanout_seconds.observe(time.perf_counter() - started)
        client_count(recipients)

    def remove_acks(self, ack_id: int, opts: BroadcastOptions) -> None:
        for socket in self._select(opts):
            socket.forget_ack(ack_id)

    # Bulk operations ------------------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        sids = self._sids
        return [
            SocketDetails(
                socket.id, socket.handshake, frozenset(sids.get(socket.id, ())), socket.data
            )
            for socket in self._select(opts)
        ]

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for socket in list(self._select(opts)):
            socket.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for socket in list(self._select(opts)):
            for room in rooms:
                socket.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        # Listed first: each disconnect leaves the rooms being walked.
        for socket in list(self._select(opts)):
            socket.disconnect(close)

    # Connection state recovery --------------------------------------------------------

    def _recovery_log(self) -> Recorder | None:
        """What records this namespace's recoverable broadcasts (None: they go unstamped)."""
        return self._packet_log()

    def unkept(self) -> AbstractContextManager[None]:
        """Events emitted within carry a recovery offset, the last kept, but are not kept:
        the last of what a socket is sent as it connects (see :meth:`PacketLog.unkept`)."""
        log = self._recovery_log() if self._namespace.recovery is not None else None
        return nullcontext() if log is None else log.unkept()

    def _packet_log(self) -> PacketLog | None:
        recovery = self._namespace.recovery
        if recovery is None:
            return None
        log = self._log
        if log is None or log.recovery is not recovery:
            log = self._log = PacketLog(recovery)
        return log

    def persist_session(self, session: Session) -> None:
        log = self._packet_log()
        if log is not None:
            log.persist(session)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        log = self._packet_log()
        return None if log is None else log.restore(pid, offset)

    # The other servers: there are none ------------------------------------------------

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        logger.debug("server-side emit of %r on %s: no other server", event, self._namespace.name)

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        return []

    async def server_count(self) -> int:
        return 1
