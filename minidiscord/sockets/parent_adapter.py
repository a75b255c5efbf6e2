"""The adapter of a dynamic namespaces' parent: it has no sockets of its own, and carries each
broadcast and bulk operation out in every child, through the child's own adapter.

The reference's ``ParentBroadcastAdapter`` is the model; it only broadcasts, while this one
also gives the parent ``emit_with_ack``, ``fetch_sockets``, ``sockets_join``/``leave``,
``disconnect_sockets`` and server-side emits over its children. A child's adapter is the
server's (``SocketServer(adapter=...)``), so a cluster adapter sees the child's traffic as
any namespace's.
"""

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.socketio import Packet
from .adapter import Adapter, BroadcastOptions, SocketDetails
from .errors import ServerSideEmitTimeout

if TYPE_CHECKING:
    from .dynamic import ParentNamespace
    from .recovery import Session

_EMPTY: frozenset[str] = frozenset()


class ParentBroadcastAdapter:
    """The :class:`~minidiscord.sockets.Adapter` of a
    :class:`~minidiscord.sockets.ParentNamespace`.

    No socket connects to the parent, so membership here is its children's, read through
    their adapters. A packet goes to each child with the child's namespace name; a packet
    with acks keeps its id in every child (a parent and its children draw ack ids from one
    counter). For ``emit_with_ack`` the parent answers as one server: it reports one client
    count, the sum of the children's, once every child's servers have reported theirs.
    """

    def __init__(self, parent: "ParentNamespace") -> None:
        self._parent = parent

    @property
    def namespace(self) -> "ParentNamespace":
        return self._parent

    # Lifecycle: each child's adapter has its own ------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def close(self) -> None:
        pass

    def _children(self) -> list[Adapter]:
        # A copy: an operation may make a child go (disconnect_sockets with cleanup on).
        return [child.adapter for child in list(self._parent.children.values())]

    # Membership: the children's -------------------------------------------------------

    @property
    def rooms(self) -> Mapping[str, AbstractSet[str]]:
        merged: dict[str, set[str]] = {}
        for adapter in self._children():
            for room, sids in adapter.rooms.items():
                merged.setdefault(room, set()).update(sids)
        return merged

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        # No socket is ever the parent's: each joins through its own child's adapter.
        pass

    def del_(self, sid: str, room: str) -> None:
        pass

    def del_all(self, sid: str) -> None:
        pass

    def socket_rooms(self, sid: str) -> AbstractSet[str]:
        for adapter in self._children():
            rooms = adapter.socket_rooms(sid)
            if rooms:
                return rooms
        return _EMPTY

    def sockets(self, rooms: AbstractSet[str]) -> set[str]:
        found: set[str] = set()
        for adapter in self._children():
            found |= adapter.sockets(rooms)
        return found

    # Broadcasts -----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        for adapter in self._children():
            adapter.broadcast(replace(packet, namespace=adapter.namespace.name), opts)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        counts = _ChildCounts(client_count)
        children = self._children()
        for adapter in children:
            child_packet = replace(packet, namespace=adapter.namespace.name)
            await adapter.broadcast_with_ack(child_packet, opts, counts.counted, ack)
        expected = 0
        for adapter in children:
            # Each of a child's servers reports once (this server alone with ``local``).
            expected += 1 if opts.flags.local else await adapter.server_count()
        counts.expect(expected)

    def remove_acks(self, ack_id: int, opts: BroadcastOptions) -> None:
        for adapter in self._children():
            adapter.remove_acks(ack_id, opts)

    # Bulk operations ------------------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        found: list[SocketDetails] = []
        for each in await _gather([adapter.fetch_sockets for adapter in self._children()], opts):
            found.extend(each)
        return found

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for adapter in self._children():
            adapter.add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for adapter in self._children():
            adapter.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for adapter in self._children():
            adapter.disconnect_sockets(opts, close)

    # The other servers: each child's namespace there ----------------------------------

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        for adapter in self._children():
            adapter.server_side_emit(event, args)

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        answers: list[Any] = []
        late = False

        async def ask(adapter: Adapter) -> None:
            nonlocal late
            try:
                answers.extend(await adapter.server_side_emit_with_ack(event, args, timeout))
            except ServerSideEmitTimeout as exc:
                answers.extend(exc.responses)
                late = True

        async with trio.open_nursery() as nursery:
            for adapter in self._children():
                nursery.start_soon(ask, adapter)
        if late:
            raise ServerSideEmitTimeout(
                f"some servers did not answer {event!r} within {timeout} s", answers
            )
        return answers

    async def server_count(self) -> int:
        # The parent reports one client count for all its children (see broadcast_with_ack).
        return 1

    # Connection state recovery: each child keeps its own sessions ----------------------

    def persist_session(self, session: "Session") -> None:
        # No socket connects to the parent, so none leaves it.
        pass

    async def restore_session(self, pid: str, offset: str) -> "Session | None":
        return None


class _ChildCounts:
    """Adds up the children's client counts, and reports the sum once all are in."""

    __slots__ = ("_clients", "_expected", "_report", "_reports")

    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report
        self._clients = 0
        self._reports = 0
        self._expected: int | None = None

    def counted(self, clients: int) -> None:
        self._clients += clients
        self._reports += 1
        self._check()

    def expect(self, reports: int) -> None:
        self._expected = reports
        self._check()

    def _check(self) -> None:
        if self._expected is not None and self._reports == self._expected:
            self._expected = None
            self._report(self._clients)


async def _gather(
    calls: list[Callable[[BroadcastOptions], Awaitable[list[SocketDetails]]]],
    opts: BroadcastOptions,
) -> list[list[SocketDetails]]:
    """Every child's answer, asked at once (a cluster adapter's may wait on the network)."""
    results: list[list[SocketDetails]] = [[] for _ in calls]

    async def run(index: int) -> None:
        results[index] = await calls[index](opts)

    async with trio.open_nursery() as nursery:
        for index in range(len(calls)):
            nursery.start_soon(run, index)
    return results
