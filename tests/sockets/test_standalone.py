"""The Socket.IO layer on its own: a SocketServer is an ASGI app, served by minidiscord.serve
on the suite's front end, with its options, its path, the paths it leaves to another app,
its lifespan and its drain."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from minidiscord.asgi_io import Receive, Scope, Send, respond
from minidiscord.lifespan import Lifespan
from minidiscord.sockets import Socket, SocketServer
from tests.support.rawclient import polling_handshake, raw_websocket, read_until_closed
from tests.support.servers import RunningApp, serve_any_app


@asynccontextmanager
async def served(sio: Any) -> AsyncIterator[RunningApp]:
    """``sio`` served until the block ends; the block ends once serving has stopped."""
    async with trio.open_nursery() as nursery:
        server = await serve_any_app(nursery, sio)
        try:
            yield server
        finally:
            server.shutdown.set()


async def test_the_options_reach_the_wire_at_the_path_given() -> None:
    sio = SocketServer(path="/rt", ping_interval=7.0, ping_timeout=3.0, max_http_buffer_size=5000)
    async with served(sio) as server, httpx.AsyncClient() as http:
        for path in ("/rt/", "/rt"):
            handshake = await polling_handshake(http, server.url, path)
            assert handshake["pingInterval"] == 7000
            assert handshake["pingTimeout"] == 3000
            assert handshake["maxPayload"] == 5000
            assert handshake["upgrades"] == ["websocket"]
        answer = await http.get(f"{server.url}/socket.io/", params={"EIO": "4"})
        assert answer.status_code == 404


async def test_the_defaults_are_the_reference_servers() -> None:
    async with served(SocketServer()) as server, httpx.AsyncClient() as http:
        handshake = await polling_handshake(http, server.url, "/socket.io/")
    assert handshake["pingInterval"] == 25000
    assert handshake["pingTimeout"] == 20000
    assert handshake["maxPayload"] == 1_000_000


async def test_other_paths_are_not_found_over_http_and_websocket() -> None:
    async with served(SocketServer()) as server, httpx.AsyncClient() as http:
        answer = await http.get(f"{server.url}/")
        assert (answer.status_code, answer.text) == (404, "Not Found\n")
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(f"{server.ws_url}/elsewhere"):
                pass
        # 404 where the host lets an app answer a handshake in HTTP; else closed unopened.
        assert rejected.value.status_code in (403, 404)


class OtherApp:
    """An ASGI app beside the Socket.IO server: answers every request, records its lifespan."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"].removeprefix("lifespan."))
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await respond(send, 200, f"other: {scope['path']}")


async def test_other_asgi_app_serves_the_rest_and_its_lifespan_runs_inside() -> None:
    other = OtherApp()
    sio = SocketServer(other_asgi_app=other)
    async with served(sio) as server, httpx.AsyncClient() as http:
        assert other.lifespan == ["startup"]
        answer = await http.get(f"{server.url}/page")
        assert (answer.status_code, answer.text) == (200, "other: /page")
        await polling_handshake(http, server.url, "/socket.io/")
    assert other.lifespan == ["startup", "shutdown"]


async def _lifespan_of(sio: SocketServer) -> tuple[bool, str | None]:
    """Start ``sio``'s lifespan as a host does: whether it started, and why not."""
    lifespan = Lifespan(sio)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lifespan.run)
        started = await lifespan.startup()
        await lifespan.shutdown(5)
    return started, lifespan.failure


async def test_other_asgi_app_failing_to_start_fails_the_startup() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    sio = SocketServer(other_asgi_app=failing)
    assert await _lifespan_of(sio) == (False, "no database")
    # The engine it had started is stopped again.
    assert sio.engine.sessions == {}


async def test_other_asgi_app_without_lifespan_is_served_without_one() -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        # An app with no lifespan raises for its scope (the ASGI specification's way).
        assert scope["type"] == "http"
        await respond(send, 200, "http only")

    assert await _lifespan_of(SocketServer(other_asgi_app=http_only)) == (True, None)


async def test_cross_origin_browsers_need_to_be_allowed() -> None:
    origin = [(b"origin", b"http://elsewhere.example")]
    query = {"EIO": "4", "transport": "polling"}
    async with httpx.AsyncClient() as http:
        # Same origin only by default (clients that are not browsers send no Origin).
        async with served(SocketServer()) as server:
            url = f"{server.url}/socket.io/"
            assert (await http.get(url, params=query, headers=origin)).status_code == 403
            assert (await http.get(url, params=query)).status_code == 200
        for allowed in ("*", ["http://elsewhere.example"]):
            async with served(SocketServer(cors_allowed_origins=allowed)) as server:
                url = f"{server.url}/socket.io/"
                answer = await http.get(url, params=query, headers=origin)
                assert answer.status_code == 200
                assert "access-control-allow-origin" in answer.headers


async def test_transports_are_the_ones_named() -> None:
    with pytest.raises(ValueError, match="unknown transports"):
        SocketServer(transports=("polling", "pigeon"))
    async with served(SocketServer(transports=("websocket",))) as server:
        async with httpx.AsyncClient() as http:
            answer = await http.get(
                f"{server.url}/socket.io/", params={"EIO": "4", "transport": "polling"}
            )
        assert answer.status_code == 400
        async with raw_websocket(server.ws_url) as client:
            assert client.handshake["upgrades"] == []


def test_the_engines_limits_are_options_too() -> None:
    sio = SocketServer(client_buffer=3, max_sessions=5, ping_interval=9.0)
    assert (sio.engine.config.client_buffer, sio.engine.config.max_sessions) == (3, 5)
    assert sio.engine.config.ping_interval == 9.0
    # A misspelt one is an error at once (and for mypy), never silently ignored.
    with pytest.raises(TypeError, match="client_bufer"):
        SocketServer(client_bufer=3)  # type: ignore[call-arg]


async def test_stopping_closes_every_client_cleanly_before_the_front_end_stops() -> None:
    sio = SocketServer()
    reasons: list[str] = []

    @sio.on("disconnect")
    async def on_disconnect(socket: Socket, reason: str) -> None:
        reasons.append(reason)

    async with trio.open_nursery() as nursery:
        server = await serve_any_app(nursery, sio)
        async with raw_websocket(server.ws_url) as client:
            await client.join()
            server.shutdown.set()
            with trio.fail_after(5):
                await read_until_closed(client)
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
    # Without the drain the front end would cut the connection after its graceful timeout.
    assert closed.value.reason is not None
    assert closed.value.reason.code == 1000
    assert reasons == ["server shutting down"]
