"""The client against a scripted WebSocket server, for what a real minidiscord server does
not do on demand: a server that stops pinging, and connection state recovery.

Recovery: the client keeps the ``pid`` of the CONNECT answer and the offset of the last
event, sends both in the next CONNECT, and says whether the server restored the session
(``recovered``). The server side of recovery is built separately; this server plays the
reference's part on the wire (socket.io >= 4.6: ``pid`` in the CONNECT answer, the offset
as every event's last argument)."""

import contextlib
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from minidiscord.client import Client, ConnectError

OPEN = '0{"sid":"e%d","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}'


async def test_a_server_that_stops_pinging_is_left_after_interval_plus_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(
            '0{"sid":"e","upgrades":[],"pingInterval":1000,"pingTimeout":500,"maxPayload":1000}'
        )
        await ws.get_message()
        await ws.send_message('40{"sid":"s"}')
        await ws.send_message("2")  # one ping, then silence
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.get_message()

    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
    client = Client(transports=("websocket",), reconnection=False)
    reasons: list[tuple[str, float]] = []
    client.on("disconnect", lambda reason: reasons.append((reason, trio.current_time())))
    async with client.connect(f"http://127.0.0.1:{server.port}") as sio:
        pinged = trio.current_time()
        with trio.fail_after(10):
            await sio.wait_closed()
    ((reason, at),) = reasons
    assert reason == "ping timeout"
    assert at - pinged == pytest.approx(1.5, abs=0.1)


async def serve_tls(nursery: trio.Nursery, tmp_path: Path) -> tuple[int, Path]:
    """A WebSocket server with a throwaway certificate for 127.0.0.1 that accepts every
    CONNECT; its port and its certificate."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    await trio.run_process(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(OPEN % 0)
        await ws.get_message()
        await ws.send_message('40{"sid":"tls"}')
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.get_message()

    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, served)
    return server.port, cert


async def test_wss_with_the_given_ssl_context(nursery: trio.Nursery, tmp_path: Path) -> None:
    port, cert = await serve_tls(nursery, tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    client = Client(transports=("websocket",), reconnection=False, ssl_context=trusted)
    with trio.fail_after(10):
        async with client.connect(f"https://127.0.0.1:{port}") as sio:
            assert sio.id == "tls"


async def test_an_untrusted_certificate_fails_the_connection_at_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    port, _ = await serve_tls(nursery, tmp_path)
    client = Client(transports=("websocket",), reconnection=False)
    # Well within the 20 s the opening of a session may take.
    with trio.fail_after(5), pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        async with client.connect(f"wss://127.0.0.1:{port}"):
            pytest.fail("connected to a server whose certificate nobody trusts")


async def test_the_next_connect_carries_the_pid_and_last_offset_and_reports_recovery(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    connects: list[Any] = []
    # What each connection's CONNECT is answered with, and whether the server then cuts it.
    answers = iter(
        [
            ('40{"sid":"s1","pid":"p1"}', True),
            ('40{"sid":"s1","pid":"p1"}', True),
            ('40{"sid":"s2","pid":"p2"}', False),
        ]
    )
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(OPEN % len(connects))
        message = await ws.get_message()
        assert isinstance(message, str)
        assert message.startswith("40")
        connects.append(json.loads(message[2:]))
        answer, cut = next(answers)
        await ws.send_message(answer)
        if cut:
            number = len(connects)
            await ws.send_message(f'42["news",{number},"offset-{number}a"]')
            await ws.send_message(f'42["news",{number + 10},"offset-{number}b"]')
            await ws.aclose()
        else:
            await done.wait()

    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
    news: list[tuple[Any, ...]] = []
    recovered: list[bool] = []
    client = Client(auth={"token": "t"}, transports=("websocket",), random=lambda: 0.0)
    client.on("news", lambda *args: news.append(args))
    client.on("connect", lambda: recovered.append(client.recovered))
    async with client.connect(f"http://127.0.0.1:{server.port}"):
        with trio.fail_after(30):
            while len(recovered) < 3:
                await client.wait_for("connect")
        done.set()
    assert connects == [
        {"token": "t"},
        {"pid": "p1", "offset": "offset-1b", "token": "t"},
        {"pid": "p1", "offset": "offset-2b", "token": "t"},
    ]
    # Restored when the server answers with the same pid; a new pid is a new session.
    assert recovered == [False, True, False]
    # As socket.io-client, the handlers see the offset as the last argument.
    assert news == [(1, "offset-1a"), (11, "offset-1b"), (2, "offset-2a"), (12, "offset-2b")]
