"""hypercorn's WebSocket messages handed to the app in the connection's own task
(``minidiscord.hypercorn_receives``).

The :class:`Mailbox` alone first (its order, its bound, its end), then on a real hypercorn
server with real sockets: the engine reads no hypercorn WebSocket with a task of its own,
and a client that goes on sending after its session ended does not keep its connection.
"""

import pytest
import trio
import trio.testing

from benchkit.wire import OP_TEXT, encode_client_frame
from minidiscord.asgi_io import Message
from minidiscord.engine import websocket
from minidiscord.engine.reasons import CloseReason
from minidiscord.engine.session import EngineSession
from minidiscord.hypercorn_receives import Mailbox, MailboxState
from minidiscord.protocol.engineio import Packet
from minidiscord.sockets import SocketServer
from tests.frontend.test_direct_send import Client, room_server, session_of
from tests.frontend.test_hypercorn_sends import hypercorn
from tests.support.tasks import all_tasks, tasks_running
from tests.support.tcpstate import server_holds
from tests.support.waiting import wait_until


def text(index: int) -> Message:
    return {"type": "websocket.receive", "text": str(index)}


async def a_putter_held_by_a_full_mailbox(
    nursery: trio.Nursery, limit: int
) -> tuple[Mailbox, trio.Event]:
    """A mailbox holding ``limit`` messages (0, 1, ...), and a task that waits to put the
    next: the event is set once its put returned."""
    mailbox = Mailbox(limit)
    for index in range(limit):
        await mailbox.put(text(index))
    returned = trio.Event()

    async def put() -> None:
        await mailbox.put(text(limit))
        returned.set()

    nursery.start_soon(put)
    await trio.testing.wait_all_tasks_blocked()
    assert not returned.is_set()
    return mailbox, returned


async def test_queued_messages_reach_receive_in_order_and_a_full_queue_holds_the_putter() -> None:
    async with trio.open_nursery() as nursery:
        # Two queued, the bound: the third waits for room.
        mailbox, third_put = await a_putter_held_by_a_full_mailbox(nursery, 2)
        assert await mailbox.receive() == text(0)
        await third_put.wait()
        assert await mailbox.receive() == text(1)
        assert await mailbox.receive() == text(2)
        # Nothing queued: receive waits for the next put.
        received: list[Message] = []

        async def receive_one() -> None:
            received.append(await mailbox.receive())

        nursery.start_soon(receive_one)
        await trio.testing.wait_all_tasks_blocked()
        assert received == []
        await mailbox.put(text(3))
    assert received == [text(3)]


async def test_a_second_receiver_at_once_is_refused() -> None:
    mailbox = Mailbox(2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mailbox.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await mailbox.receive()
        nursery.cancel_scope.cancel()
    # The cancelled receiver left: another may wait now.
    await mailbox.put(text(0))
    assert await mailbox.receive() == text(0)


async def test_a_handler_gets_what_was_queued_then_each_message_in_the_putters_task() -> None:
    mailbox = Mailbox(2)
    handled: list[tuple[str, trio.lowlevel.Task]] = []
    release_first = trio.Event()

    async def handler(message: Message) -> None:
        handled.append((message["text"], trio.lowlevel.current_task()))
        if message["text"] == "0":
            # While the queued ones are handed over, the putter fills the room they leave.
            await release_first.wait()

    putter_task: list[trio.lowlevel.Task] = []

    async def putter() -> None:
        putter_task.append(trio.lowlevel.current_task())
        for index in range(6):
            await mailbox.put(text(index))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(putter)
        await trio.testing.wait_all_tasks_blocked()
        # Two queued, the putter waits with the third; nothing handled yet.
        assert handled == []

        async def release() -> None:
            await trio.testing.wait_all_tasks_blocked()
            release_first.set()

        nursery.start_soon(release)
        await mailbox.hand_to(handler)
        assert mailbox.state is MailboxState.HANDING
        here = trio.lowlevel.current_task()
        handed_here = [index for index, task in handled if task is here]
        # At least the two that were queued went through this task, first and in order.
        assert handed_here[:2] == ["0", "1"]
    assert [index for index, _ in handled] == [str(index) for index in range(6)]
    # Once handed over, the putter's own task ran the handler.
    assert handled[-1][1] is putter_task[0]
    await mailbox.hand_to(None)
    await mailbox.put(text(6))
    assert await mailbox.receive() == text(6)


async def test_once_the_app_has_ended_messages_are_dropped_and_nobody_waits() -> None:
    async with trio.open_nursery() as nursery:
        mailbox, put_returned = await a_putter_held_by_a_full_mailbox(nursery, 1)
        mailbox.close()
        await put_returned.wait()
    mailbox.close()  # hypercorn may report the app's end twice (an error, then finally)
    with trio.fail_after(1):
        await mailbox.put(text(2))
    assert (await mailbox.receive())["type"] == "websocket.disconnect"


async def test_every_putter_waiting_for_room_is_let_go_by_the_close() -> None:
    # hypercorn's reader waits with a message; a task whose write failed waits with the
    # disconnect, and is cancelled (its write's deadline); the app ends.
    async with trio.open_nursery() as nursery:
        mailbox, reader_put = await a_putter_held_by_a_full_mailbox(nursery, 1)
        with trio.move_on_after(0.05):
            await mailbox.put({"type": "websocket.disconnect", "code": 1006})
        assert not reader_put.is_set()
        mailbox.close()
        with trio.fail_after(1):
            await reader_put.wait()


async def test_putters_waiting_for_room_hand_their_messages_over_after_the_queued_ones() -> None:
    handled: list[str] = []

    async def handler(message: Message) -> None:
        handled.append(message["text"])

    async with trio.open_nursery() as nursery:
        mailbox, first_put = await a_putter_held_by_a_full_mailbox(nursery, 1)
        second_put = trio.Event()

        async def put_second() -> None:
            await mailbox.put(text(2))
            second_put.set()

        nursery.start_soon(put_second)
        await trio.testing.wait_all_tasks_blocked()
        await mailbox.hand_to(handler)
        with trio.fail_after(1):
            await first_put.wait()
            await second_put.wait()
    # The queued one first; the two that waited in either order (two tasks).
    assert handled[0] == "0"
    assert sorted(handled[1:]) == ["1", "2"]


async def test_handing_over_many_messages_lets_others_run_between_them() -> None:
    mailbox = Mailbox(1)
    handled: list[str] = []

    async def handler(message: Message) -> None:
        handled.append(message["text"])  # never yields

    await mailbox.hand_to(handler)
    async with trio.open_nursery() as nursery:

        async def other() -> None:
            handled.append("other")

        nursery.start_soon(other)
        for index in range(100):
            await mailbox.put(text(index))
    assert handled.index("other") < 100


async def test_the_engine_reads_hypercorns_websockets_without_a_task_of_its_own() -> None:
    sio: SocketServer = room_server()
    echoed: list[str] = []

    @sio.of("/").on("say")
    async def say(socket: object, words: str) -> None:
        echoed.append(words)

    async with hypercorn(sio) as port:
        clients = [await Client.connect(port, small_buffer=False) for _ in range(3)]
        for index, client in enumerate(clients):
            frame = f'42["say","hello {index}"]'.encode()
            await client.ws.send_bytes(encode_client_frame(OP_TEXT, frame))
        await wait_until(lambda: len(echoed) == 3)
        assert sorted(echoed) == [f"hello {index}" for index in range(3)]
        assert all(not session_of(sio, client).closed for client in clients)
        assert tasks_running(websocket._read.__code__) == 0


async def test_a_client_that_sends_on_after_its_session_ended_does_not_keep_its_connection() -> (
    None
):
    sio = room_server()
    async with hypercorn(sio) as port:
        await trio.testing.wait_all_tasks_blocked()
        tasks_before = len(all_tasks())
        client = await Client.connect(port, small_buffer=False)
        session = session_of(sio, client)
        # A packet the engine refuses, then many more in the same write: hypercorn reads
        # them all at once and hands each on after the session has ended.
        refused = encode_client_frame(OP_TEXT, b"9 not an Engine.IO packet")
        after = encode_client_frame(OP_TEXT, b'42["anything"]') * 200
        await client.ws.send_bytes(refused + after)
        await wait_until(lambda: session.closed)
        await wait_until(lambda: not server_holds(client.sock), timeout=10)
        # And none of its tasks is left waiting to hand a message on.
        await wait_until(lambda: len(all_tasks()) == tasks_before, timeout=10)


async def test_a_failure_applying_a_message_ends_that_session_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sio = room_server()
    async with hypercorn(sio) as port:
        failing, bystander = [await Client.connect(port, small_buffer=False) for _ in range(2)]
        session = session_of(sio, failing)

        original = EngineSession.receive_packet

        async def broken_for_one(self: EngineSession, packet: Packet) -> None:
            if self is session:
                raise RuntimeError("a bug")
            await original(self, packet)

        monkeypatch.setattr(EngineSession, "receive_packet", broken_for_one)
        await failing.ws.send_bytes(encode_client_frame(OP_TEXT, b"3"))
        await wait_until(lambda: session.closed)
        assert session.close_reason is CloseReason.SERVER_ERROR
        assert any("reading a message from" in record.getMessage() for record in caplog.records)
        # The other client is served on.
        sio.to("room").emit("item", 0, "x")
        assert await bystander.read(1) == [b'42["item",0,"x"]']
