"""`ack_requested()`: a handler can tell an event sent with an ack callback from one without."""

import trio
import trio.lowlevel

from minidiscord.app import App
from minidiscord.sockets import Socket, ack_requested
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory


def make_app() -> App:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")

    @root.on("probe")
    async def probe(socket: Socket, label: str) -> bool:
        before = ack_requested()
        # Still this event's answer after the handler has let other tasks run.
        await trio.lowlevel.checkpoint()
        socket.emit("probed", label, before, ack_requested())
        return ack_requested()

    return app


async def test_a_handler_knows_whether_its_event_asked_for_an_ack(
    start_server: ServerFactory,
) -> None:
    server = await start_server(app=make_app())
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send('42["probe","plain"]')
        assert await client.text() == '42["probed","plain",false,false]'
        await client.send('427["probe","acked"]')
        assert await client.text() == '42["probed","acked",true,true]'
        assert await client.text() == "437[true]"
        # The next event without an ack id is not answered as the previous one was.
        await client.send('42["probe","plain again"]')
        assert await client.text() == '42["probed","plain again",false,false]'
    assert ack_requested() is False


def test_outside_a_handler_no_ack_was_requested() -> None:
    assert ack_requested() is False
