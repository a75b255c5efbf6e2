"""The connection's own events (socket.io-client's Manager: open, close, ping, error,
packet, and the reconnection's), to on_manager handlers and to manager_events channels,
in the reference client's order, against a real server over real sockets."""

from typing import Any, Literal

import pytest
import trio
import trio.testing

from minidiscord.client import Client, ConnectError, Event
from minidiscord.engine.reasons import CloseReason
from minidiscord.protocol.socketio import Packet, PacketType
from tests.client.server import Seen, make_app
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until

ManagerEvent = Literal[
    "open",
    "close",
    "ping",
    "error",
    "packet",
    "reconnect_attempt",
    "reconnect",
    "reconnect_error",
    "reconnect_failed",
]
NAMESPACE_EVENTS = ("connect", "disconnect", "connect_error")
MANAGER_EVENTS: tuple[ManagerEvent, ...] = (
    "open",
    "close",
    "ping",
    "error",
    "packet",
    "reconnect_attempt",
    "reconnect",
    "reconnect_error",
    "reconnect_failed",
)


async def started(start_server: ServerFactory) -> RunningServer:
    return await start_server(make_app(Seen()))


def record_everything(client: Client) -> list[tuple[str, tuple[Any, ...]]]:
    """Every namespace and connection event of ``client``, with its arguments, in order."""
    happened: list[tuple[str, tuple[Any, ...]]] = []

    def record(event: str) -> Any:
        return lambda *args: happened.append((event, args))

    for event in NAMESPACE_EVENTS:
        client.on(event, record(event))
    for event in MANAGER_EVENTS:
        client.on_manager(event, record(event))
    return happened


def without(happened: list[tuple[str, tuple[Any, ...]]], *names: str) -> list[Any]:
    return [(event, args) for event, args in happened if event not in names]


async def test_open_ping_packet_and_close_come_where_the_reference_emits_them(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await started(start_server)
    client = Client(transports=("websocket",), random=lambda: 0.0)
    happened = record_everything(client)
    async with client.connect(server.url) as sio:
        # The server pings every 5 s (TEST_SETTINGS); the client answers and tells.
        await wait_until(lambda: ("ping", ()) in happened, 30)
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        await wait_until(lambda: [event for event, _ in happened].count("connect") == 2, 30)
    assert without(happened, "ping", "packet") == [
        ("open", ()),
        ("connect", ()),
        ("disconnect", ("transport close",)),
        ("close", ("transport close",)),
        ("reconnect_attempt", (1,)),
        ("open", ()),
        ("reconnect", (1,)),
        ("connect", ()),
        ("disconnect", ("io client disconnect",)),
        ("close", ("forced close",)),
    ]
    # Each packet comes once its namespace had it: the CONNECT answer after "connect", then
    # the server's "hello".
    packets = [args[0] for event, args in happened if event == "packet"]
    assert all(isinstance(packet, Packet) for packet in packets)
    assert [(packet.type, packet.namespace) for packet in packets[:2]] == [
        (PacketType.CONNECT, "/"),
        (PacketType.EVENT, "/"),
    ]
    assert packets[1].data[0] == "hello"
    assert happened.index(("connect", ())) < [event for event, _ in happened].index("packet")
    assert len(packets) == 4  # CONNECT and "hello", on each of the two connections


async def test_a_failed_opening_is_an_error_then_a_reconnect_error(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await started(start_server)
    client = Client(transports=("websocket",), reconnection_attempts=1, random=lambda: 0.0)
    happened = record_everything(client)
    async with client.connect(server.url) as sio:
        client.path = "/nowhere/"
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        with trio.fail_after(30):
            await sio.wait_closed()
    events = without(happened, "ping", "packet")
    assert [event for event, _ in events] == [
        "open",
        "connect",
        "disconnect",
        "close",
        "reconnect_attempt",
        "connect_error",
        "error",
        "reconnect_error",
        "reconnect_failed",
    ]
    # The same failure, told thrice: to the namespace, as the opening's error and as the
    # attempt's.
    (error,) = events[5][1]
    assert isinstance(error, ConnectError)
    assert events[6][1] == events[7][1] == (error,)


async def test_the_first_opening_failing_is_a_connect_error_then_an_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = Client(transports=("websocket",), reconnection=False)
        happened = record_everything(client)
        with pytest.raises(ConnectError, match="could not connect"):
            async with client.connect(f"http://127.0.0.1:{port}"):
                pytest.fail("connected to a closed port")
    # As in socket.io-client, whose sockets hear the Manager's "error" first.
    assert [event for event, _ in happened] == ["connect_error", "error"]
    assert happened[0][1] == happened[1][1]


async def test_a_failed_transport_is_an_error_then_a_close(
    start_server: ServerFactory,
) -> None:
    server = await started(start_server)
    # A long-polling answer over the bound fails the transport (rather than closing it).
    client = Client(transports=("polling",), reconnection=False, max_message_bytes=4096)
    happened = record_everything(client)
    async with client.connect(server.url) as sio:
        sio.emit("big", 10_000)
        with trio.fail_after(5):
            await sio.wait_closed()
    events = without(happened, "ping", "packet")
    # As engine.io-client: the error first, then the close (which the namespace hears first).
    assert [event for event, _ in events] == ["open", "connect", "error", "disconnect", "close"]
    (error,) = events[2][1]
    assert isinstance(error, ConnectError)
    assert events[3][1] == ("transport error",)
    assert "poll answer too large" in str(error)
    assert events[4][1] == ("transport error",)


async def test_manager_events_come_through_a_channel_too(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await started(start_server)
    client = Client(transports=("websocket",), random=lambda: 0.0)
    async with (
        client.manager_events("open", "close", "reconnect") as named,
        client.manager_events(buffer=100) as everything,
        client.connect(server.url) as sio,
    ):
        assert await named.receive() == Event("open", (), None)
        server.app.engine.sessions[sio.engine_sid or ""].close(
            CloseReason.FORCED_CLOSE, flush=False
        )
        with trio.fail_after(30):
            assert await named.receive() == Event("close", ("transport close",), None)
            assert await named.receive() == Event("open", (), None)
            assert await named.receive() == Event("reconnect", (1,), None)
            # Without names, every event of the connection: pings and packets too.
            seen: set[str] = set()
            while not {"open", "packet", "close", "reconnect_attempt", "ping"} <= seen:
                event = await everything.receive()
                assert event.namespace is None
                seen.add(event.name)
    # The namespace's own events stay on events(): a manager channel never has them.
    assert not seen & set(NAMESPACE_EVENTS)


def test_a_manager_channel_names_only_the_connections_events() -> None:
    with pytest.raises(ValueError, match="not an event of the connection"):
        Client().manager_events("connect")
