"""Every room, broadcast, bulk operation and server-side emit goes through the namespace's
adapter: a test-only adapter records each call (and hands it to the in-memory one), and each
path of the API, the chat's included, shows up there and nowhere else."""

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import pytest
import trio

from minidiscord.app import create_app
from minidiscord.protocol.socketio import Packet, PacketType
from minidiscord.sockets import (
    Adapter,
    BroadcastAckTimeout,
    BroadcastFlags,
    BroadcastOptions,
    InMemoryAdapter,
    Namespace,
    Session,
    SocketDetails,
    SocketServer,
)
from tests.sockets.operators_app import clients, events, served
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


class RecordingAdapter:
    """Records each call of the Adapter interface, then lets the in-memory adapter do it."""

    def __init__(self, namespace: Namespace) -> None:
        self.inner = InMemoryAdapter(namespace)
        self.calls: list[tuple[Any, ...]] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.calls.append(("run",))
        await self.inner.run(task_status=task_status)

    def close(self) -> None:
        self.calls.append(("close",))
        self.inner.close()

    def take(self) -> list[tuple[Any, ...]]:
        """The calls recorded since the last take."""
        calls, self.calls = self.calls, []
        return calls

    @property
    def namespace(self) -> Namespace:
        return self.inner.namespace

    @property
    def rooms(self) -> Mapping[str, AbstractSet[str]]:
        self.calls.append(("rooms",))
        return self.inner.rooms

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        self.calls.append(("add_all", sid, rooms))
        self.inner.add_all(sid, rooms)

    def del_(self, sid: str, room: str) -> None:
        self.calls.append(("del_", sid, room))
        self.inner.del_(sid, room)

    def del_all(self, sid: str) -> None:
        self.calls.append(("del_all", sid))
        self.inner.del_all(sid)

    def socket_rooms(self, sid: str) -> AbstractSet[str]:
        self.calls.append(("socket_rooms", sid))
        return self.inner.socket_rooms(sid)

    def sockets(self, rooms: AbstractSet[str]) -> set[str]:
        self.calls.append(("sockets", frozenset(rooms)))
        return self.inner.sockets(rooms)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        self.calls.append(("broadcast", packet.type, packet.data, opts))
        self.inner.broadcast(packet, opts)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        self.calls.append(("broadcast_with_ack", packet.data, opts))
        await self.inner.broadcast_with_ack(packet, opts, client_count, ack)

    def remove_acks(self, ack_id: int, opts: BroadcastOptions) -> None:
        self.calls.append(("remove_acks", opts))
        self.inner.remove_acks(ack_id, opts)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        self.calls.append(("fetch_sockets", opts))
        return await self.inner.fetch_sockets(opts)

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        self.calls.append(("add_sockets", opts, frozenset(rooms)))
        self.inner.add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        self.calls.append(("del_sockets", opts, frozenset(rooms)))
        self.inner.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self.calls.append(("disconnect_sockets", opts, close))
        self.inner.disconnect_sockets(opts, close)

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        self.calls.append(("server_side_emit", event, tuple(args)))
        self.inner.server_side_emit(event, args)

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        self.calls.append(("server_side_emit_with_ack", event, tuple(args), timeout))
        return await self.inner.server_side_emit_with_ack(event, args, timeout)

    async def server_count(self) -> int:
        self.calls.append(("server_count",))
        return await self.inner.server_count()

    def persist_session(self, session: Session) -> None:
        self.calls.append(("persist_session", session.sid, session.rooms))
        self.inner.persist_session(session)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        self.calls.append(("restore_session", pid, offset))
        return await self.inner.restore_session(pid, offset)


def _recording(namespace: Namespace) -> Adapter:
    return RecordingAdapter(namespace)


def _recorder(sio: SocketServer, name: str = "/") -> RecordingAdapter:
    adapter = sio.of(name).adapter
    assert isinstance(adapter, RecordingAdapter)
    return adapter


def opts(rooms: Iterable[str] = (), except_: Iterable[str] = (), **flags: Any) -> BroadcastOptions:
    return BroadcastOptions(frozenset(rooms), frozenset(except_), BroadcastFlags(**flags))


EVENT = PacketType.EVENT


async def test_membership_and_broadcasts_go_through_the_adapter() -> None:
    sio = SocketServer(adapter=_recording)
    recorder = _recorder(sio)
    async with (
        served(sio) as server,
        clients(server.ws_url, {"ann": ("a", "b"), "bob": ()}) as joined,
    ):
        ann, bob = joined["ann"][1], joined["bob"][1]
        assert recorder.take() == [
            # The server's lifespan started the adapter before any client came.
            ("run",),
            ("add_all", ann, (ann,)),
            ("add_all", ann, ("a", "b")),
            ("add_all", bob, (bob,)),
            ("add_all", bob, ()),
        ]
        socket = sio.of("/").sockets[ann]
        socket.leave("b")
        assert socket.rooms == {ann, "a"}
        assert "a" in sio.of("/").rooms
        assert recorder.take() == [("del_", ann, "b"), ("socket_rooms", ann), ("rooms",)]

        sio.emit("all", 1)
        sio.to("a").except_("c").emit("some")
        # bob's socket's own emit waits for its writer (a broadcast may go straight to
        # the socket and leave nothing waiting).
        sio.of("/").sockets[bob].emit("waiting")
        sio.of("/").volatile.local.emit("light")
        socket.to("a").emit("others-in-a")
        socket.broadcast.emit("others")
        assert recorder.take() == [
            ("broadcast", EVENT, ["all", 1], opts()),
            ("broadcast", EVENT, ["some"], opts(["a"], ["c"])),
            ("broadcast", EVENT, ["light"], opts(volatile=True, local=True)),
            ("broadcast", EVENT, ["others-in-a"], opts(["a"], [ann])),
            ("broadcast", EVENT, ["others"], opts((), [ann])),
        ]
        # "light" is volatile and bob still had "waiting" waiting: dropped.
        assert await events(joined["bob"][0], "others") == [["all", 1], ["waiting"], ["others"]]
    await wait_until(lambda: not sio.of("/").sockets)
    # Closed at shutdown, once the engine had closed the sessions.
    calls = recorder.take()
    assert set(calls[:-1]) == {("del_all", ann), ("del_all", bob)}
    assert calls[-1] == ("close",)


async def test_acks_bulk_operations_and_server_side_emits_go_through_the_adapter() -> None:
    sio = SocketServer(adapter=_recording)
    recorder = _recorder(sio)
    async with served(sio) as server, clients(server.ws_url, {"ann": ("a",), "bob": ()}) as joined:
        ann = joined["ann"][1]
        recorder.take()

        with pytest.raises(BroadcastAckTimeout):
            await sio.to("a").timeout(0.2).emit_with_ack("question")
        assert (await joined["ann"][0].text()).endswith('["question"]')
        assert recorder.take() == [
            ("broadcast_with_ack", ["question"], opts(["a"], timeout=0.2)),
            ("server_count",),
            ("remove_acks", opts(["a"], timeout=0.2)),
        ]
        # A caller cancelled while it waits: the sockets stop waiting too.
        with trio.move_on_after(0.2):
            await sio.to("a").timeout(30).emit_with_ack("question")
        assert (await joined["ann"][0].text()).endswith('["question"]')
        assert recorder.take()[-1] == ("remove_acks", opts(["a"], timeout=30))

        (fetched,) = await sio.in_("a").fetch_sockets()
        fetched.emit("hi")
        fetched.join("x")
        fetched.leave("x")
        assert recorder.take() == [
            ("fetch_sockets", opts(["a"])),
            ("broadcast", EVENT, ["hi"], opts([ann])),
            ("add_sockets", opts([ann]), {"x"}),
            ("add_all", ann, ("x",)),
            ("del_sockets", opts([ann]), {"x"}),
            ("del_", ann, "x"),
        ]

        sio.except_("a").sockets_join(["y"])
        sio.in_("y").sockets_leave("y")
        sio.close_room("a")
        bob = joined["bob"][1]
        assert recorder.take() == [
            ("add_sockets", opts((), ["a"]), {"y"}),
            ("add_all", bob, ("y",)),
            ("del_sockets", opts(["y"]), {"y"}),
            ("del_", bob, "y"),
            ("del_sockets", opts(["a"]), {"a"}),
            ("del_", ann, "a"),
        ]

        sio.server_side_emit("sync", 1)
        assert await sio.server_side_emit_with_ack("sync", 2, timeout=3) == []
        assert recorder.take() == [
            ("server_side_emit", "sync", (1,)),
            ("server_side_emit_with_ack", "sync", (2,), 3),
        ]

        sio.to(ann).disconnect_sockets()
        assert recorder.take() == [("disconnect_sockets", opts([ann]), False), ("del_all", ann)]
        assert await joined["ann"][0].text() == '42["hi"]'
        assert await joined["ann"][0].text() == "41"


async def test_every_namespace_gets_an_adapter_from_the_factory() -> None:
    sio = SocketServer(adapter=_recording)
    made = [sio.of("/").adapter, sio.of("/other").adapter]
    assert all(isinstance(adapter, RecordingAdapter) for adapter in made)
    assert [adapter.namespace.name for adapter in made] == ["/", "/other"]
    assert isinstance(SocketServer().of("/").adapter, InMemoryAdapter)


async def test_the_chat_joins_and_broadcasts_through_the_adapter(
    start_server: ServerFactory,
) -> None:
    app = create_app(TEST_SETTINGS)
    namespace = app.sio.of("/")
    recorder = RecordingAdapter(namespace)
    namespace.adapter = recorder
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"username":"ada"}')
        sid = json.loads((await client.text())[2:])["sid"]
        for _ in range(3):  # session, channels, users
            await client.text()
        await client.send('42["message:channel:send","general","hello"]')
        frame = await client.text()
        assert frame.startswith('42["message:channel","general"'), frame
        calls = recorder.take()
    joins = [call for call in calls if call[0] == "add_all"]
    assert joins[0] == ("add_all", sid, (sid,))
    rooms = {call[2] for call in joins[1:]}
    # Every channel, and the user's own room (what only the user's tabs get).
    own = {room for room in rooms if room[0].startswith("user:")}
    assert len(own) == 1
    assert rooms - own == {
        ("welcome",),
        ("general",),
        ("react",),
        ("learners",),
        ("casual",),
    }
    broadcasts = [call for call in calls if call[0] == "broadcast"]
    assert [(call[2][0], call[3].rooms, call[3].except_) for call in broadcasts] == [
        ("user:join", frozenset({"welcome"}), frozenset({sid})),
        ("message:channel", frozenset({"general"}), frozenset()),
    ]
    with trio.fail_after(5):
        await wait_until(lambda: ("del_all", sid) in recorder.calls)
