"""Binary attachments a client declares are bounded: in bytes (one message's worth for all
of a packet's attachments) and in time (a packet left incomplete is not kept)."""

import pytest
import trio
import trio.testing

from minidiscord.protocol.errors import SocketIOProtocolError
from minidiscord.protocol.socketio import Decoder
from tests.support.rawclient import raw_websocket, read_until_closed
from tests.support.servers import ServerFactory

# A BINARY_EVENT declaring two attachments; on the wire, an Engine.IO MESSAGE ("4").
PACKET = '52-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
HEADER = "4" + PACKET


def test_the_decoder_refuses_attachments_over_its_byte_limit() -> None:
    decoder = Decoder(max_attachment_bytes=1000)
    assert decoder.receive(PACKET) is None
    assert decoder.receive(b"x" * 600) is None
    with pytest.raises(SocketIOProtocolError, match="over 1000 bytes"):
        decoder.receive(b"y" * 600)
    # Within the limit the packet completes as before.
    decoder = Decoder(max_attachment_bytes=1000)
    decoder.receive(PACKET)
    decoder.receive(b"x" * 500)
    packet = decoder.receive(b"y" * 500)
    assert packet is not None
    assert packet.data == ["upload", b"x" * 500, b"y" * 500]


async def test_attachments_over_max_payload_close_only_that_client(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_payload=1000)
    async with raw_websocket(server.ws_url) as bystander, raw_websocket(server.ws_url) as client:
        await bystander.join()
        await client.join()
        await client.send(HEADER)
        await client.send(b"x" * 900)
        await client.send(b"y" * 900)  # each under maxPayload, together over it
        await read_until_closed(client)
        assert client.sid not in server.app.engine.sessions
        await bystander.send('42["still here"]')
        assert bystander.sid in server.app.engine.sessions
    assert server.app.metrics.rejected.labels(reason="parse error")._value.get() == 1


async def test_attachments_never_completed_are_dropped_in_time(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send(HEADER)
        await client.send(b"only one of two")
        started = trio.current_time()
        with trio.fail_after(60):
            while client.sid in server.app.engine.sessions:
                await client.send("3")  # it keeps its heartbeat: only the packet is stale
                await trio.sleep(1.0)
        assert 29.0 <= trio.current_time() - started <= 32.0
    label = "incomplete attachments"
    assert server.app.metrics.rejected.labels(reason=label)._value.get() == 1


async def test_completed_attachments_clear_the_deadline(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send(HEADER)
        await client.send(b"one")
        await client.send(b"two")
        await trio.sleep(40.0)
        await client.send("3")
        await trio.sleep(40.0)
        assert client.sid in server.app.engine.sessions
