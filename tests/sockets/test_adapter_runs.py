"""The adapters' lifecycle: the server's lifespan runs every namespace's adapter (those made
before it starts, and a dynamic namespace's children as they are made), closes a cleaned-up
child's adapter, and closes them all at shutdown once the engine has closed its sessions.
And a dynamic namespace's children answer the parent's server-side events."""

import re
from typing import Any

import pytest
import trio

from minidiscord.sockets import InMemoryAdapter, Namespace, Recovery, Session, SocketServer
from tests.sockets.operators_app import served
from tests.support.rawclient import raw_websocket
from tests.support.waiting import wait_until

Record = list[tuple[str, str]]


class TaskAdapter(InMemoryAdapter):
    """An in-memory adapter with a task of its own, as a networked adapter has: it records
    when its task starts and ends, and what it was asked meanwhile."""

    def __init__(self, namespace: Namespace, record: Record) -> None:
        super().__init__(namespace)
        self.record = record
        self.closed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.record.append(("started", self.namespace.name))
        task_status.started()
        await self.closed.wait()
        # What it owed before it returns (a cluster adapter's last writes).
        await trio.lowlevel.checkpoint()
        self.record.append(("stopped", self.namespace.name))

    def close(self) -> None:
        self.closed.set()

    def persist_session(self, session: Session) -> None:
        self.record.append(("persisted", self.namespace.name))


async def test_the_lifespan_runs_every_adapter_and_a_cleaned_up_child_closes_its_own() -> None:
    record: Record = []
    sio = SocketServer(
        adapter=lambda namespace: TaskAdapter(namespace, record),
        cleanup_empty_child_namespaces=True,
    )
    sio.of("/admin")
    sio.of(re.compile(r"^/room-\d+$"))
    assert record == []
    async with served(sio) as server:
        assert sorted(record) == [("started", "/"), ("started", "/admin")]
        async with raw_websocket(server.ws_url) as client:
            await client.send("40/room-1,")
            assert (await client.text()).startswith("40/room-1,{")
            assert ("started", "/room-1") in record
            await client.send("41/room-1,")
            await wait_until(lambda: ("stopped", "/room-1") in record)
            assert "/room-1" not in sio.namespaces
        assert ("stopped", "/") not in record
    assert sorted(record[-2:]) == [("stopped", "/"), ("stopped", "/admin")]


async def test_adapters_close_after_the_engine_closed_the_sessions() -> None:
    record: Record = []
    sio = SocketServer(
        adapter=lambda namespace: TaskAdapter(namespace, record),
        connection_state_recovery=Recovery(),
    )
    joined, release = trio.Event(), trio.Event()

    async def connected_until_released(url: str) -> None:
        async with raw_websocket(url) as client:
            await client.join()
            joined.set()
            await release.wait()

    async with trio.open_nursery() as outlives_the_server:
        async with served(sio) as server:
            outlives_the_server.start_soon(connected_until_released, server.ws_url)
            await joined.wait()
        # Shutting down closed the session (a recoverable reason: its session was persisted
        # through the adapter), then the adapter.
        assert record == [("started", "/"), ("persisted", "/"), ("stopped", "/")]
        release.set()


async def test_a_dynamic_child_answers_its_parents_server_side_events() -> None:
    sio = SocketServer()
    parent = sio.of(re.compile(r"^/room-\d+$"))
    heard: list[Any] = []

    @parent.on_server_side("ping")
    async def ping(value: int) -> str:
        heard.append(value)
        return f"pong {value}"

    child = sio.of("/room-7")
    assert await child.server_side.receive("ping", [1]) == "pong 1"

    @child.on_server_side("own")
    async def own() -> str:
        return "the child's"

    assert await child.server_side.receive("own", []) == "the child's"
    # The child's own handler is its alone.
    assert await parent.server_side.receive("own", []) is None
    assert heard == [1]


class FailingAdapter(InMemoryAdapter):
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.lowlevel.checkpoint()
        raise RuntimeError("lost its cluster")


async def test_one_failing_adapter_does_not_take_the_server_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = SocketServer(
        adapter=lambda namespace: (
            FailingAdapter(namespace) if namespace.name == "/admin" else InMemoryAdapter(namespace)
        )
    )
    sio.of("/admin")
    async with served(sio) as server:
        await wait_until(lambda: "the adapter of /admin failed" in caplog.text)
        async with raw_websocket(server.ws_url) as client:
            assert (await client.join()).startswith("40{")
