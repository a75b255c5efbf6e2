"""The adapter seam carries a cluster: two servers in one process, linked by a test-only
adapter that applies each operation on the other server too (what a Redis adapter does over
the network), with nothing else in sockets/ changed. Clients on either server are reached by
broadcasts, broadcast acks, fetch_sockets (a socket of the other server acts as a
RemoteSocket), bulk operations and server-side emits; ``local`` stays on one server."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

import trio

from minidiscord.protocol.socketio import Packet
from minidiscord.sockets import (
    Adapter,
    BroadcastOptions,
    InMemoryAdapter,
    Namespace,
    SocketDetails,
    SocketServer,
)
from tests.sockets.operators_app import clients, events, served
from tests.support.waiting import wait_until


class Cluster:
    """The linked adapters of every server's namespaces."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.adapters: list[LinkedAdapter] = []

    def factory(self, namespace: Namespace) -> Adapter:
        adapter = LinkedAdapter(namespace, self)
        self.adapters.append(adapter)
        return adapter


class LinkedAdapter(InMemoryAdapter):
    """Does each operation here, then on every other server's namespace of the same name,
    through the in-memory part only there (as a cluster adapter applies a message)."""

    def __init__(self, namespace: Namespace, cluster: Cluster) -> None:
        super().__init__(namespace)
        self.cluster = cluster

    def _others(self, opts: BroadcastOptions | None = None) -> list[InMemoryAdapter]:
        if opts is not None and opts.flags.local:
            return []
        name = self.namespace.name
        return [a for a in self.cluster.adapters if a is not self and a.namespace.name == name]

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        super().broadcast(packet, opts)
        for other in self._others(opts):
            InMemoryAdapter.broadcast(other, packet, opts)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        await super().broadcast_with_ack(packet, opts, client_count, ack)
        for other in self._others(opts):
            own_id = replace(packet, id=next(other.namespace.ack_ids))
            await InMemoryAdapter.broadcast_with_ack(other, own_id, opts, client_count, ack)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        found = await super().fetch_sockets(opts)
        for other in self._others(opts):
            found.extend(await InMemoryAdapter.fetch_sockets(other, opts))
        return found

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().add_sockets(opts, rooms)
        for other in self._others(opts):
            InMemoryAdapter.add_sockets(other, opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().del_sockets(opts, rooms)
        for other in self._others(opts):
            InMemoryAdapter.del_sockets(other, opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        for other in self._others(opts):
            InMemoryAdapter.disconnect_sockets(other, opts, close)

    def server_side_emit(self, event: str, args: Sequence[Any]) -> None:
        for other in self._others():
            self.cluster.nursery.start_soon(other.namespace.server_side.receive, event, args)

    async def server_side_emit_with_ack(
        self, event: str, args: Sequence[Any], timeout: float | None
    ) -> list[Any]:
        return [await other.namespace.server_side.receive(event, args) for other in self._others()]

    async def server_count(self) -> int:
        return 1 + len(self._others())


async def test_two_servers_share_broadcasts_acks_sockets_and_server_side_events(
    nursery: trio.Nursery,
) -> None:
    cluster = Cluster(nursery)
    one = SocketServer(adapter=cluster.factory)
    two = SocketServer(adapter=cluster.factory)
    heard: list[tuple[str, Any]] = []
    for name, sio in (("one", one), ("two", two)):

        @sio.of("/").on_server_side("ping")
        async def ping(value: int, name: str = name) -> str:
            heard.append((name, value))
            return f"pong from {name}"

    async with (
        served(one) as first,
        served(two) as second,
        clients(first.ws_url, {"ann": ("a",)}) as on_one,
        clients(second.ws_url, {"bob": ("a",), "cat": ()}) as on_two,
    ):
        (ann, ann_sid), (bob, bob_sid), (cat, _) = on_one["ann"], on_two["bob"], on_two["cat"]

        one.to("a").emit("to-a")
        one.local.emit("local")
        two.except_("a").emit("not-a")
        one.emit("end")
        assert await events(ann, "end") == [["to-a"], ["local"], ["end"]]
        assert await events(bob, "end") == [["to-a"], ["end"]]
        assert await events(cat, "end") == [["not-a"], ["end"]]

        async def answer(client: Any, text: str) -> None:
            asked = await client.text()
            await client.send(f'43{asked[2 : asked.index("[")]}["{text}"]')

        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann")
            answering.start_soon(answer, bob, "bob")
            answers = await one.to("a").timeout(5).emit_with_ack("question")
        assert sorted(answers) == ["ann", "bob"]
        # Local: only this server sends it, so only this server's count is waited for.
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann alone")
            with trio.fail_after(2):
                assert await one.local.to("a").timeout(5).emit_with_ack("question") == ["ann alone"]

        fetched = {s.data["name"]: s for s in await one.fetch_sockets()}
        assert set(fetched) == {"ann", "bob", "cat"}
        remote_bob = fetched["bob"]
        assert (remote_bob.id, remote_bob.rooms) == (bob_sid, frozenset({bob_sid, "a"}))
        remote_bob.emit("from-one")
        assert await events(bob, "from-one") == [["from-one"]]
        remote_bob.join("b")
        assert two.of("/").sockets[bob_sid].rooms == {bob_sid, "a", "b"}
        one.in_("b").sockets_leave("a")
        assert two.of("/").sockets[bob_sid].rooms == {bob_sid, "b"}
        assert {s.data["name"] for s in await one.local.fetch_sockets()} == {"ann"}

        assert await one.server_side_emit_with_ack("ping", 1) == ["pong from two"]
        two.server_side_emit("ping", 2)
        await wait_until(lambda: ("one", 2) in heard)
        assert heard == [("two", 1), ("one", 2)]

        one.in_("b").disconnect_sockets()
        assert await bob.text() == "41"
        await wait_until(lambda: bob_sid not in two.of("/").sockets)
        assert ann_sid in one.of("/").sockets
