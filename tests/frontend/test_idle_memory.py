"""What an idle WebSocket on the native front end keeps: its own state, none of the upgrade's
(and on hypercorn, none of the upgrade's h11 state).

Memory per connection is a benchmark figure (``scripts/bench.py``, ``scripts/memory_profile.py``,
docs/benchmarks.md), never asserted here; these pin down the structure behind it: once a
WebSocket is open, the HTTP connection that carried its upgrade request, h11's parser state,
wsproto's handshake and the request itself are garbage, and a connection that is not
writing holds no event of its own.
"""

import gc
from dataclasses import replace
from typing import TypeVar

import h11
import pytest
import trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.handshake import H11Handshake

from minidiscord.addresses import TrustedProxies
from minidiscord.app import create_app
from minidiscord.frontend.connlimits import ConnectionLimits
from minidiscord.frontend.http import HttpConnection
from minidiscord.frontend.websocket import WebSocketConnection
from minidiscord.frontend.wsconnection import ServerWSConnection
from minidiscord.frontend.wsframes import FrameCache
from tests.frontend.test_direct_send import Client, room_server, session_of
from tests.frontend.test_direct_send import native as direct_send_server
from tests.frontend.test_hypercorn_sends import hypercorn
from tests.frontend.test_native_server import native
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS
from tests.support.waiting import wait_until

T = TypeVar("T")


def _live(kind: type[T]) -> list[T]:
    gc.collect()
    return [obj for obj in gc.get_objects() if isinstance(obj, kind)]


async def test_an_open_websocket_keeps_nothing_of_its_upgrade() -> None:
    app = create_app(replace(TEST_SETTINGS, frontend="native"))
    async with (
        native(app) as (_, port, _),
        raw_websocket(f"ws://127.0.0.1:{port}") as engine_only,
        raw_websocket(f"ws://127.0.0.1:{port}") as chat_user,
    ):
        # A round trip: the chat user's connection has read and written since the upgrade.
        await chat_user.join('{"username":"idle"}')
        await engine_only.send("3")  # a pong nobody asked for: read, and ignored
        await wait_until(lambda: len(app.engine.sessions) == 2)
        connections = _live(WebSocketConnection)
        assert len(connections) == 2
        for connection in connections:
            assert connection.request is None
            assert isinstance(connection.ws, ServerWSConnection)
            assert connection.ws.handshake_done
            assert connection._drained is None
        # The test's own clients are wsproto clients: only the server's side is counted.
        assert _live(HttpConnection) == []
        assert [c for c in _live(h11.Connection) if c.our_role is h11.SERVER] == []
        assert [h for h in _live(H11Handshake) if not h.client] == []


async def test_an_open_websocket_on_hypercorn_keeps_no_h11_state() -> None:
    sio = room_server()
    async with (
        hypercorn(sio) as port,
        raw_websocket(f"ws://127.0.0.1:{port}") as client,
    ):
        await client.join()
        await client.send("3")  # read, and ignored
        await wait_until(lambda: len(sio.engine.sessions) == 1)
        assert [c for c in _live(h11.Connection) if c.our_role is h11.SERVER] == []
        (stream,) = _live(WSStream)
        protocol = getattr(stream.send, "__self__", None)
        assert isinstance(protocol, H11Protocol)
        # What stands for it refuses an HTTP answer on the WebSocket, as h11 would.
        with pytest.raises(h11.LocalProtocolError):
            protocol.connection.send(h11.Response(status_code=500, headers=[]))
        # The WebSocket itself goes on.
        await client.send('42["anything"]')
        await client.send("3")
        await trio.sleep(0.1)
        assert not next(iter(sio.engine.sessions.values())).closed


def test_what_each_connection_holds_for_its_life_has_no_instance_dict() -> None:
    counted = ConnectionLimits(None, 10, TrustedProxies(())).connection("10.0.0.1")
    for held in (counted, ServerWSConnection()):
        assert not hasattr(held, "__dict__"), type(held)


def _upgrade_request() -> tuple[WSConnection, h11.Request]:
    client = WSConnection(ConnectionType.CLIENT)
    data = client.send(Request(host="localhost", target="/chat?x=1"))
    parser = h11.Connection(h11.SERVER)
    parser.receive_data(data)
    request = parser.next_event()
    assert isinstance(request, h11.Request)
    return client, request


def test_the_lean_connection_speaks_websocket_and_drops_its_handshake() -> None:
    client, request = _upgrade_request()
    server = ServerWSConnection()
    server.initiate_upgrade_connection(list(request.headers), request.target)
    (upgrade,) = list(server.events())
    assert isinstance(upgrade, Request)
    assert upgrade.target == "/chat?x=1"
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    # Frames the client sent before the accept was seen are read once fed.
    server.receive_data(client.send(TextMessage(data="hello")))
    assert not server.handshake_done
    events = list(server.events())
    assert [event.data for event in events if isinstance(event, TextMessage)] == ["hello"]
    assert server.handshake_done
    client.receive_data(server.send(TextMessage(data="back")))
    client.receive_data(server.send(CloseConnection(code=1000)))
    answers = list(client.events())
    assert isinstance(answers[0], TextMessage)
    assert answers[0].data == "back"
    assert isinstance(answers[1], CloseConnection)
    assert answers[1].code == 1000


def test_a_refused_upgrade_keeps_its_handshake_to_send_the_body() -> None:
    client, request = _upgrade_request()
    server = ServerWSConnection()
    server.initiate_upgrade_connection(list(request.headers), request.target)
    list(server.events())
    head = server.send(RejectConnection(status_code=403, has_body=True))
    body = server.send(RejectData(data=b"no\n"))
    assert not server.handshake_done
    client.receive_data(head + body)
    rejection, data = list(client.events())[:2]
    assert isinstance(rejection, RejectConnection)
    assert rejection.status_code == 403
    assert isinstance(data, RejectData)
    assert data.data == b"no\n"


async def test_a_writer_waiting_for_more_holds_none_of_what_it_wrote() -> None:
    # A writer parked for its next batch holding the last one would keep, for as long as
    # its connection stays idle, whatever that was: after a connect storm, the newest
    # users' whole `users` lists.
    sio = room_server()
    count, size = 300, 2000  # far more than a stalled client's kernel buffers hold
    async with direct_send_server(sio) as (_, port):
        stalled = await Client.connect(port)
        session = session_of(sio, stalled)
        await wait_until(lambda: session.outbox.awaited)
        for index in range(count):
            sio.to("room").emit("item", index, "x" * size)
        # A round writes what the socket takes and wakes the writer for the rest; what is
        # broadcast while the writer works waits in the queue, for the writer's next batch.
        await wait_until(lambda: not session.outbox.awaited)
        for index in range(count, 2 * count):
            sio.to("room").emit("item", index, "x" * size)
        assert len(session.outbox) > 0  # left for the writer
        await stalled.read(2 * count)
        await wait_until(lambda: session.outbox.awaited)
        batches = [
            batch
            for batch in _live(list)
            if any(isinstance(frame, str) and frame.startswith('42["item"') for frame in batch)
        ]
        # The front end's FrameCache keeps the last run of frames it joined, one for the
        # whole server (bounded by one client's outbox), for the next client of a round.
        cached = [
            batch
            for batch in batches
            if any(isinstance(holder, FrameCache) for holder in gc.get_referrers(batch))
        ]
        assert len(cached) <= 1
        assert len(batches) - len(cached) == 0
