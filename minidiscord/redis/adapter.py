"""The Socket.IO layer's Redis adapter: every server process on one Redis (under one
prefix) acts as one server for broadcasts, acks, bulk operations, server-side events and
connection state recovery.

    sio = SocketServer(adapter=RedisAdapter.factory("redis://127.0.0.1:6379/0"))

It is an :class:`~minidiscord.sockets.Adapter` built outside the sockets package, on the
seam alone: the in-memory adapter does everything local (membership stays in memory, a
broadcast is encoded once per server and handed to its sockets as that adapter does), and
each operation that is not ``local`` also goes, as one message, to the other servers
through a Redis stream, which each of them applies to its own sockets
(:mod:`.adapter_node` for the stream, the queue and the heartbeats; socket.io's Redis
*streams* adapter is the model).

``broadcast`` never waits on Redis: its message is queued for the node's writer. Redis
down, the other servers miss what is sent meanwhile (counted and logged) while this
server's own sockets get everything; the others resume with what is sent after. With
connection state recovery, a broadcast that gets an offset is delivered here once Redis has
given its entry an id (that id is the offset, the same on every server); should Redis not
take it, it is delivered here without one.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import trio

from ..protocol import jsoncodec
from ..protocol.socketio import Packet
from ..sockets import (
    BroadcastOptions,
    Handshake,
    InMemoryAdapter,
    ServerSideEmitTimeout,
    Session,
    SocketDetails,
)
from ..sockets.recovery import PacketLog, stamped
from . import adapter_sessions
from .adapter_codec import Kind, Message, options_body, options_of, packet_body, packet_of
from .adapter_node import AdapterNode, AdapterOptions, logger
from .adapter_requests import Gathering
from .connection import RedisUnavailable
from .sessions import session_value
from .target import RedisTarget, parse_redis_url

if TYPE_CHECKING:
    from ..sockets import Namespace


class FetchSocketsTimeout(Exception):
    """Some servers did not answer ``fetch_sockets`` in time (or Redis did not take the
    request); ``sockets`` holds those found, this server's included."""

    def __init__(self, message: str, sockets: list[SocketDetails]) -> None:
        super().__init__(message)
        self.sockets = sockets


@dataclass(frozen=True, slots=True)
class RemoteRequest:
    """The request that opened another server's socket, as its server described it."""

    address: str
    address_key: str
    headers: dict[str, str]
    query: dict[str, str]


class RedisAdapterFactory:
    """Makes the :class:`RedisAdapter` of each namespace of one server; ``node`` is that
    server in the cluster (its id, its metrics). Give each server a factory of its own."""

    def __init__(self, node: AdapterNode) -> None:
        self.node = node

    def __call__(self, namespace: "Namespace") -> "RedisAdapter":
        return RedisAdapter(namespace, self.node)


class RedisAdapter(InMemoryAdapter):
    """A namespace's adapter on a cluster of servers sharing one Redis (see the module
    docstring); made by :meth:`factory`."""

    @classmethod
    def factory(
        cls, target: RedisTarget | str, *, prefix: str = "socket.io", **options: Any
    ) -> RedisAdapterFactory:
        """The adapter factory of one server on the Redis at ``target`` (a URL, or a
        parsed :class:`~minidiscord.redis.target.RedisTarget`): servers with the same
        ``prefix`` there are one cluster. ``options`` are
        :class:`~minidiscord.redis.adapter_node.AdapterOptions`'s."""
        where = parse_redis_url(target) if isinstance(target, str) else target
        return RedisAdapterFactory(AdapterNode(where, prefix, AdapterOptions(**options)))

    def __init__(self, namespace: "Namespace", node: AdapterNode) -> None:
        super().__init__(namespace)
        self._node = node
        self._closed = trio.Event()
        node.attach(self)

    @property
    def node(self) -> AdapterNode:
        return self._node

    # Lifecycle ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._node.run_for(self, self._closed, task_status)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._node.detach(self)

    # Recovery offsets are stream ids: the in-memory part keeps no packets of its own.
    def _recovery_log(self) -> PacketLog | None:
        return None

    def _post(
        self, kind: Kind, body: dict[str, Any], done: Callable[[str | None], None] | None = None
    ) -> bool:
        node = self._node
        return node.post(Message(kind, node.uid, self.namespace.name, body), done=done)

    # Broadcasts -----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if opts.flags.local:
            super().broadcast(packet, opts)
            return
        body = {"packet": packet_body(packet), "opts": options_body(opts)}
        if adapter_sessions.recoverable(self.namespace, packet, opts):

            def deliver(entry_id: str | None) -> None:
                self._deliver_own(packet, opts, entry_id)

            if not self._post(Kind.BROADCAST, body, deliver):
                super().broadcast(packet, opts)
            return
        super().broadcast(packet, opts)
        self._post(Kind.BROADCAST, body)

    def _deliver_own(self, packet: Packet, opts: BroadcastOptions, entry_id: str | None) -> None:
        """This server's own broadcast, once Redis gave it its offset (or refused it)."""
        if entry_id is not None:
            packet = stamped(packet, entry_id)
            self._node.own_position = entry_id
        InMemoryAdapter.broadcast(self, packet, opts)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        await super().broadcast_with_ack(packet, opts, client_count, ack)
        if opts.flags.local:
            return
        node = self._node

        def answered(message: Message) -> None:
            if message.kind is Kind.CLIENT_COUNT:
                count = message.body.get("count")
                client_count(count if isinstance(count, int) else 0)
            elif message.kind is Kind.ACK:
                ack(message.body.get("answer"))

        timeout = opts.flags.timeout or node.options.requests_timeout
        request = node.requests.open(answered, timeout)
        body = {"request": request, "packet": packet_body(packet), "opts": options_body(opts)}
        self._post(Kind.BROADCAST_WITH_ACK, body)

    # Bulk operations ------------------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        found = await super().fetch_sockets(opts)
        if opts.flags.local:
            return found
        node = self._node
        gathering = Gathering(await node.server_count() - 1)
        if gathering.done.is_set():
            return found
        timeout = node.options.requests_timeout
        request = node.requests.open(gathering.add, timeout)
        try:
            body = {"request": request, "opts": options_body(opts)}
            if not self._post(Kind.FETCH_SOCKETS, body, gathering.sent):
                gathering.sent(None)
            with trio.move_on_after(timeout):
                await gathering.done.wait()
        finally:
            node.requests.close(request)
        for answer in gathering.bodies:
            found.extend(_details(answer.get("sockets")))
        if not gathering.complete:
            raise FetchSocketsTimeout(gathering.shortfall("fetch_sockets", timeout), found)
        return found

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().add_sockets(opts, rooms)
        if not opts.flags.local:
            self._post(Kind.SOCKETS_JOIN, {"opts": options_body(opts), "rooms": sorted(rooms)})

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().del_sockets(opts, rooms)
        if not opts.flags.local:
            self._post(Kind.SOCKETS_LEAVE, {"opts": options_body(opts), "rooms": sorted(rooms)})

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        if not opts.flags.local:
            self._post(Kind.DISCONNECT_SOCKETS, {"opts": options_body(opts), "close": close})

    # Connection state recovery --------------------------------------------------------

    def persist_session(self, session: Session) -> None:
        recovery = self.namespace.recovery
        if recovery is None:
            return
        try:
            value = session_value(session)
        except TypeError as exc:
            logger.warning("session %s not kept: its data is not JSON (%s)", session.pid, exc)
            return
        self._node.keep_session(session.pid, value, int(recovery.max_disconnection_duration * 1000))

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        try:
            return await adapter_sessions.restore(self._node, self.namespace, pid, offset)
        except RedisUnavailable as exc:
            logger.warning("session %s not restored: %s", pid, exc)
            return None

    # The other servers ----------------------------------------------------------------

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        self._post(Kind.SERVER_SIDE_EMIT, {"event": event, "args": list(args)})

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        node = self._node
        gathering = Gathering(await node.server_count() - 1)
        if gathering.done.is_set():
            return []
        seconds = node.options.requests_timeout if timeout is None else timeout
        request = node.requests.open(gathering.add, seconds)
        try:
            body = {"request": request, "event": event, "args": list(args)}
            if not self._post(Kind.SERVER_SIDE_EMIT, body, gathering.sent):
                gathering.sent(None)
            with trio.move_on_after(seconds):
                await gathering.done.wait()
        finally:
            node.requests.close(request)
        answers = [body.get("answer") for body in gathering.bodies if not body.get("absent")]
        if not gathering.complete:
            raise ServerSideEmitTimeout(
                gathering.shortfall(f"server-side emit of {event!r}", seconds), answers
            )
        return answers

    async def server_count(self) -> int:
        return await self._node.server_count()

    # Another server's messages ---------------------------------------------------------

    def apply(self, message: Message, entry_id: str) -> None:
        """Carry out another server's message on this server's sockets."""
        body = message.body
        kind = message.kind
        name = self.namespace.name
        if kind is Kind.BROADCAST:
            packet = packet_of(body.get("packet"), name)
            opts = options_of(body.get("opts"))
            if adapter_sessions.recoverable(self.namespace, packet, opts):
                packet = stamped(packet, entry_id)
            InMemoryAdapter.broadcast(self, packet, opts)
        elif kind is Kind.BROADCAST_WITH_ACK:
            packet = replace(packet_of(body.get("packet"), name), id=next(self.namespace.ack_ids))
            self._node.spawn(self._relay_acks, message, packet, options_of(body.get("opts")))
        elif kind is Kind.SOCKETS_JOIN:
            InMemoryAdapter.add_sockets(self, options_of(body.get("opts")), _rooms(body))
        elif kind is Kind.SOCKETS_LEAVE:
            InMemoryAdapter.del_sockets(self, options_of(body.get("opts")), _rooms(body))
        elif kind is Kind.DISCONNECT_SOCKETS:
            InMemoryAdapter.disconnect_sockets(
                self, options_of(body.get("opts")), body.get("close") is True
            )
        elif kind is Kind.FETCH_SOCKETS:
            self._node.spawn(self._answer_fetch, message, options_of(body.get("opts")))
        elif kind is Kind.SERVER_SIDE_EMIT:
            self._node.spawn(self._answer_server_side, message)

    async def _relay_acks(self, request: Message, packet: Packet, opts: BroadcastOptions) -> None:
        """Another server's broadcast with acks, sent to this server's sockets with this
        namespace's own ack id; the count and each answer go back to that server."""
        node = self._node

        def counted(clients: int) -> None:
            node.answer(request, Kind.CLIENT_COUNT, {"count": clients})

        def acked(answer: Any) -> None:
            node.answer(request, Kind.ACK, {"answer": answer})

        await InMemoryAdapter.broadcast_with_ack(self, packet, opts, counted, acked)
        assert packet.id is not None
        # The asking server stops waiting then: so do these sockets.
        await trio.sleep(opts.flags.timeout or node.options.requests_timeout)
        InMemoryAdapter.remove_acks(self, packet.id, opts)

    async def _answer_fetch(self, request: Message, opts: BroadcastOptions) -> None:
        sockets = [
            _detail_body(details) for details in await InMemoryAdapter.fetch_sockets(self, opts)
        ]
        try:
            jsoncodec.dumps([socket["data"] for socket in sockets])
        except TypeError as exc:
            logger.warning("fetch_sockets: socket data that is not JSON is sent empty (%s)", exc)
            sockets = [_json_data_only(socket) for socket in sockets]
        self._node.answer(request, Kind.SOCKETS, {"sockets": sockets})

    async def _answer_server_side(self, request: Message) -> None:
        body = request.body
        event, args = body.get("event"), body.get("args")
        if not isinstance(event, str) or not isinstance(args, list):
            return
        try:
            answer = await self.namespace.server_side.receive(event, args)
        except Exception:
            logger.exception("server-side handler of %r failed on %s", event, self.namespace.name)
            answer = None
        if not isinstance(body.get("request"), str):
            return
        try:
            self._node.answer(request, Kind.SERVER_SIDE_ANSWER, {"answer": answer})
        except TypeError as exc:
            logger.warning("server-side answer to %r is not JSON; sent None (%s)", event, exc)
            self._node.answer(request, Kind.SERVER_SIDE_ANSWER, {"answer": None})


def _rooms(body: dict[str, Any]) -> list[str]:
    rooms = body.get("rooms")
    if not isinstance(rooms, list):
        return []
    return [room for room in rooms if isinstance(room, str)]


def _detail_body(details: SocketDetails) -> dict[str, Any]:
    handshake = details.handshake
    return {
        "id": details.id,
        "handshake": {
            "auth": handshake.auth,
            "address": handshake.address,
            "addressKey": handshake.address_key,
            "headers": handshake.headers,
            "query": handshake.query,
        },
        "rooms": sorted(details.rooms),
        "data": details.data,
    }


def _json_data_only(socket: dict[str, Any]) -> dict[str, Any]:
    try:
        jsoncodec.dumps(socket["data"])
    except TypeError:
        return {**socket, "data": {}}
    return socket


def _details(sockets: Any) -> list[SocketDetails]:
    found: list[SocketDetails] = []
    for socket in sockets if isinstance(sockets, list) else ():
        try:
            shake = socket["handshake"]
            request = RemoteRequest(
                str(shake["address"]),
                str(shake["addressKey"]),
                dict(shake["headers"]),
                dict(shake["query"]),
            )
            auth = shake.get("auth")
            found.append(
                SocketDetails(
                    str(socket["id"]),
                    Handshake(auth if isinstance(auth, dict) else None, request),
                    frozenset(socket["rooms"]),
                    dict(socket["data"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            logger.warning("fetch_sockets: skipped a malformed socket from another server")
    return found
