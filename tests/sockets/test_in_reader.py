"""Events a namespace answers in the reader (``Namespace.answer_in_reader``): applied in the
task that reads the connection when nothing waits its turn, in arrival order with the
events that take turns in the worker, and never for a socket whose packet middlewares or
own handler made no such promise.

Raw frames over a real WebSocket to the standalone server of test_own_acks.py; the inbox's
own rules (:meth:`Inbox.apply_or_put`) on trio's MockClock, which never moves here, so a
worker that lingered would still be there.
"""

from typing import Any

import trio
import trio.lowlevel
import trio.testing

from minidiscord.protocol.socketio import Packet, PacketType
from minidiscord.sockets import Socket
from minidiscord.sockets.inbox import LINGER, Inbox
from tests.sockets.own_acks_app import OwnAcksApp, own_acks_app
from tests.sockets.test_own_acks import _connected, _server_client, served
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS
from tests.support.waiting import wait_until

# The task of each kind, by trio's name for it: the WebSocket's reader (the engine's own on
# the native front end; on hypercorn, hypercorn's connection task, which hands the engine
# each message), the inbox's worker.
READER = (
    "trio._highlevel_serve_listeners._run_handler"
    if TEST_SETTINGS.frontend == "hypercorn"
    else "minidiscord.engine.websocket._read"
)
WORKER = "minidiscord.engine.session.EngineSession._run_task"


def app_with_where() -> OwnAcksApp:
    """own_acks_app, with ``where label`` logging (label, the handling task's name) and
    ``note`` answered in the reader."""
    app = own_acks_app()

    @app.sio.on("where")
    async def where(socket: Socket, label: str) -> str:
        app.log.append((label, trio.lowlevel.current_task().name))
        return label

    app.sio.of("/").answer_in_reader("where", "note")
    return app


async def _connected_and_idle(client: Any, app: OwnAcksApp) -> None:
    """Connected, and the worker that applied the CONNECT done lingering."""
    await _connected(client)
    inbox = _server_client(app)._inbox
    await wait_until(lambda: not inbox.busy, timeout=LINGER + 5)


async def test_an_event_answered_in_the_reader_runs_in_the_readers_task() -> None:
    app = app_with_where()
    async with served(app) as server, raw_websocket(server.ws_url) as client:
        await _connected_and_idle(client, app)
        with trio.fail_after(10):
            await client.send('421["where","first"]')
            # Its ack comes back as from the worker.
            assert await client.text() == '431["first"]'
            await client.send('42["where","second"]')
            await wait_until(lambda: len(app.log) == 2)
    assert app.log == [("first", READER), ("second", READER)]


async def test_it_waits_its_turn_behind_an_event_still_being_handled() -> None:
    app = app_with_where()
    async with served(app) as server, raw_websocket(server.ws_url) as client:
        await _connected(client)
        await client.send('42["hold"]')
        await client.send('42["where","after hold"]')
        await client.send('42["note","last"]')
        inbox = _server_client(app)._inbox
        with trio.fail_after(10):
            # Both queued behind "hold" (applied at once, they would be logged already).
            await wait_until(lambda: len(inbox) == 2)
            assert app.log == ["hold"]
            app.release.set()
            await wait_until(lambda: len(app.log) == 3)
    # Behind a worker they are the worker's.
    assert app.log == ["hold", ("after hold", WORKER), "last"]


async def test_a_socket_with_packet_middlewares_takes_turns_in_the_worker() -> None:
    app = app_with_where()
    screened: list[str] = []

    async def middleware(event: str, args: list[Any]) -> None:
        screened.append(event)

    async with served(app) as server, raw_websocket(server.ws_url) as client:
        await _connected_and_idle(client, app)
        (socket,) = app.sio.of("/").sockets.values()
        socket.use(middleware)
        with trio.fail_after(10):
            await client.send('421["where","screened"]')
            assert await client.text() == '431["screened"]'
    assert screened == ["where"]
    assert app.log == [("screened", WORKER)]


async def test_a_sockets_own_handler_takes_turns_in_the_worker() -> None:
    app = app_with_where()
    async with served(app) as server, raw_websocket(server.ws_url) as client:
        await _connected_and_idle(client, app)
        (socket,) = app.sio.of("/").sockets.values()

        @socket.on("where")
        async def own_where(socket: Socket, label: str) -> str:
            app.log.append((f"own {label}", trio.lowlevel.current_task().name))
            return label

        with trio.fail_after(10):
            await client.send('421["where","mine"]')
            assert await client.text() == '431["mine"]'
    assert app.log == [("own mine", WORKER)]


async def test_a_message_then_a_close_are_applied_in_that_order() -> None:
    app = app_with_where()
    async with served(app) as server:
        async with raw_websocket(server.ws_url) as client:
            await _connected_and_idle(client, app)
            await client.send('42["note","before the close"]')
            await client.send("41")
            with trio.fail_after(10):
                await wait_until(lambda: app.left != [])
        assert app.log == ["before the close"]
        assert app.left == ["client namespace disconnect"]


class Applied:
    """An inbox's ``apply``: logs (packet's label, applying task); a label in ``held``
    waits for ``release``."""

    def __init__(self, *held: str) -> None:
        self.log: list[tuple[str, trio.lowlevel.Task]] = []
        self.held = set(held)
        self.release = trio.Event()

    async def __call__(self, packet: Packet) -> None:
        label = packet.data[1]
        self.log.append((label, trio.lowlevel.current_task()))
        if label in self.held:
            await self.release.wait()


def event(label: str) -> Packet:
    return Packet(PacketType.EVENT, "/", ["note", label])


def start_reader(nursery: trio.Nursery, inbox: Inbox, label: str) -> trio.CancelScope:
    """``label`` applied through ``apply_or_put`` in a task of its own, as a connection's
    reader, under the scope returned (cancelled: the connection ending)."""
    reader = trio.CancelScope()

    async def read() -> None:
        with reader:
            await inbox.apply_or_put(event(label), 10)

    nursery.start_soon(read)
    return reader


def start_finish(nursery: trio.Nursery, inbox: Inbox) -> trio.Event:
    """``inbox.finish()`` in a task of its own, as the close handler; set once it returned."""
    finished = trio.Event()

    async def finish() -> None:
        await inbox.finish()
        finished.set()

    nursery.start_soon(finish)
    return finished


async def test_an_idle_inbox_applies_in_the_callers_task(
    mock_clock: trio.testing.MockClock,
) -> None:
    applied = Applied()
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        await inbox.apply_or_put(event("a"), 10)
        assert applied.log == [("a", trio.lowlevel.current_task())]
        assert not inbox.busy


async def test_behind_a_lingering_worker_it_is_queued_and_the_worker_then_ends(
    mock_clock: trio.testing.MockClock,
) -> None:
    applied = Applied()
    me = trio.lowlevel.current_task()
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        await inbox.put(event("taking turns"), 10)
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.busy  # the worker lingers for the next packet
        await inbox.apply_or_put(event("behind it"), 10)
        await trio.testing.wait_all_tasks_blocked()
        # Applied by the worker, which then ended at once: the clock has not moved.
        assert [label for label, _ in applied.log] == ["taking turns", "behind it"]
        assert applied.log[1][1] is not me
        assert not inbox.busy
        await inbox.apply_or_put(event("next"), 10)
        assert applied.log[2] == ("next", me)


async def test_the_close_waits_for_a_packet_applied_in_the_callers_task(
    mock_clock: trio.testing.MockClock,
) -> None:
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        nursery.start_soon(inbox.apply_or_put, event("slow"), 10)
        await trio.testing.wait_all_tasks_blocked()
        finished = start_finish(nursery, inbox)
        await trio.testing.wait_all_tasks_blocked()
        assert not finished.is_set()
        # Nothing more is taken once closing.
        await inbox.apply_or_put(event("after the close"), 10)
        applied.release.set()
        await finished.wait()
    assert [label for label, _ in applied.log] == ["slow"]


async def test_a_packet_applied_in_the_callers_task_is_cut_when_that_task_is(
    mock_clock: trio.testing.MockClock,
) -> None:
    # No scope of its own: dropping the connection (which cancels the native front end's
    # reader) cuts it at its await, and the inbox is idle again for the close.
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        reader = start_reader(nursery, inbox, "slow")
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.busy
        reader.cancel()
        await trio.testing.wait_all_tasks_blocked()
        # Released either way, so that a packet still held fails the test, not hangs it.
        applied.release.set()
        assert reader.cancelled_caught
        assert not inbox.busy
        await inbox.finish()
        await inbox.apply_or_put(event("after the close"), 10)
    assert [label for label, _ in applied.log] == ["slow"]


async def test_the_close_cut_short_leaves_a_packet_in_the_callers_task_to_end(
    mock_clock: trio.testing.MockClock,
) -> None:
    # The close handler's bound cancels a worker; a packet in the reader is not the
    # inbox's to cut (its handler promised to be bounded), and ends as it would have.
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        nursery.start_soon(inbox.apply_or_put, event("slow"), 10)
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as bound:
            nursery.start_soon(_cancel_once_blocked, bound)
            await inbox.finish()
        assert bound.cancelled_caught
        await trio.testing.wait_all_tasks_blocked()
        # Before the release: a packet cut by the close would have ended by now.
        assert inbox.busy
        applied.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert not inbox.busy
    assert [label for label, _ in applied.log] == ["slow"]


async def _cancel_once_blocked(scope: trio.CancelScope) -> None:
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


async def test_what_is_put_behind_a_packet_in_the_callers_task_is_the_workers(
    mock_clock: trio.testing.MockClock,
) -> None:
    # Put by another task (a POST's, during an upgrade): it made no promise, so it is
    # applied after, in the worker, not in the reader's task.
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        nursery.start_soon(inbox.apply_or_put, event("slow"), 10)
        await trio.testing.wait_all_tasks_blocked()
        await inbox.put(event("behind it"), 10)
        assert [label for label, _ in applied.log] == ["slow"]
        applied.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert [label for label, _ in applied.log] == ["slow", "behind it"]
        assert applied.log[0][1] is not applied.log[1][1]
        assert not inbox.busy


async def test_what_waits_behind_a_packet_cut_in_the_callers_task_is_still_applied(
    mock_clock: trio.testing.MockClock,
) -> None:
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        reader = start_reader(nursery, inbox, "slow")
        await trio.testing.wait_all_tasks_blocked()
        await inbox.put(event("behind it"), 10)
        reader.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert reader.cancelled_caught
        assert [label for label, _ in applied.log] == ["slow", "behind it"]
        assert not inbox.busy


async def test_the_close_applies_what_waits_behind_a_packet_in_the_callers_task(
    mock_clock: trio.testing.MockClock,
) -> None:
    applied = Applied("slow")
    async with trio.open_nursery() as nursery:
        inbox = Inbox(applied, nursery.start_soon, 1000)
        nursery.start_soon(inbox.apply_or_put, event("slow"), 10)
        await trio.testing.wait_all_tasks_blocked()
        await inbox.put(event("behind it"), 10)
        finished = start_finish(nursery, inbox)
        await trio.testing.wait_all_tasks_blocked()
        assert not finished.is_set()
        applied.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert finished.is_set()
    assert [label for label, _ in applied.log] == ["slow", "behind it"]
    assert not inbox.busy
