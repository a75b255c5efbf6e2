"""TLS on the native front end: https and wss, handshakes that fail or never finish, limits.

A throwaway CA signs the server's certificate (tests/support/tls.py); clients trust it.
These are the front end's own behaviours, on NativeServer directly; the chat over TLS on
either front end, with independent clients, is tests/test_tls.py.
"""

import logging
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, open_websocket_url

from minidiscord.addresses import TrustedProxies
from minidiscord.asgi_io import DIRECT_SEND, SEND_MANY, Receive, Scope, Send, respond
from minidiscord.frontend import FrontendConfig, NativeServer
from minidiscord.frontend.connlimits import ConnectionLimits
from minidiscord.frontend.tls import server_context
from tests.frontend.test_native_server import App, echo_app, lifespan
from tests.support.rawclient import read_to_end
from tests.support.tls import ServerCertificate
from tests.support.waiting import wait_until

CONFIG = FrontendConfig(max_message_size=1000, graceful_timeout=0.2)


async def scheme_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the scope's scheme (HTTP) or sends it, then closes (WebSocket)."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        await respond(send, 200, scope["scheme"])
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["scheme"]})
        # Returning closes from our side: a close frame, then the client's answer.


async def extensions_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends the names of the ASGI extensions its WebSocket scope offers, then closes."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": " ".join(sorted(scope["extensions"]))})


@asynccontextmanager
async def tls_server(
    certificate: ServerCertificate,
    app: App = echo_app,
    config: FrontendConfig = CONFIG,
    limits: ConnectionLimits | None = None,
) -> AsyncIterator[tuple[NativeServer, int, trio.Event]]:
    tls = server_context(str(certificate.certfile), str(certificate.keyfile))
    server = NativeServer(app, config, limits, tls)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(server.serve, "127.0.0.1", 0, shutdown.wait)
        assert urls[0].startswith("https://127.0.0.1:")
        yield server, int(urls[0].rsplit(":", 1)[1]), shutdown
        shutdown.set()


async def tls_get(
    port: int, context: ssl.SSLContext, path: str = "/ok", source: str = "127.0.0.1"
) -> bytes:
    """One request over a new TLS connection that closes after it; the whole answer."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
    try:
        with trio.fail_after(10):
            await stream.send_all(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            answer = await read_to_end(stream)
    finally:
        await trio.aclose_forcefully(stream)
    return answer


def untrusting_client(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        ssl.create_default_context().wrap_socket(sock, server_hostname="127.0.0.1").close()


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records with a traceback (a connection that failed rather than ended)."""
    return [record for record in caplog.records if record.exc_info is not None]


async def test_https_requests_keep_alive_and_the_scheme_is_https(
    certificate: ServerCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        tls_server(certificate) as (_, port, _),
        httpx.AsyncClient(verify=certificate.client_context()) as client,
    ):
        url = f"https://127.0.0.1:{port}"
        first = await client.post(f"{url}/a", content=b"hello")
        second = await client.get(f"{url}/b%20c?x=1")
        assert (first.status_code, first.text) == (200, "POST /a hello")
        assert (second.status_code, second.text) == (200, "GET /b c ")
        # ALPN: the native front end speaks HTTP/1.1 only.
        assert first.http_version == "HTTP/1.1"
    async with (
        tls_server(certificate, scheme_app) as (_, port, _),
        httpx.AsyncClient(verify=certificate.client_context()) as client,
    ):
        assert (await client.get(f"https://127.0.0.1:{port}/")).text == "https"
    assert not failures(caplog)


async def test_a_bad_request_over_tls_gets_its_400(
    certificate: ServerCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    async with tls_server(certificate) as (_, port, _):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        context = certificate.client_context()
        stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        with trio.fail_after(10):
            answer = await read_to_end(stream)
        assert answer.startswith(b"HTTP/1.1 400")
    assert not failures(caplog)


async def test_wss_echoes_and_closes_cleanly_from_either_side(
    certificate: ServerCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    context = certificate.client_context()
    async with tls_server(certificate) as (_, port, _):
        async with open_websocket_url(f"wss://127.0.0.1:{port}/", context) as ws:
            await ws.send_message("héllo")
            assert await ws.get_message() == "héllo"
            await ws.send_message(b"\x00\x01")
            assert await ws.get_message() == b"\x00\x01"
        assert ws.closed is not None
        assert ws.closed.code == 1000
    # The server closing first: its close frame, then (TLS has no half-close) it waits for
    # the client's answer without one.
    async with (
        tls_server(certificate, scheme_app) as (_, port, _),
        open_websocket_url(f"wss://127.0.0.1:{port}/", context) as ws,
    ):
        assert await ws.get_message() == "wss"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason is not None
        assert closed.value.reason.code == 1000
    assert not failures(caplog)


async def test_direct_sends_are_not_offered_over_tls(certificate: ServerCertificate) -> None:
    # A direct send writes the raw socket: over TLS those bytes would bypass the encryption.
    async with (
        tls_server(certificate, extensions_app) as (_, port, _),
        open_websocket_url(f"wss://127.0.0.1:{port}/", certificate.client_context()) as ws,
    ):
        offered = str(await ws.get_message()).split()
    assert SEND_MANY in offered
    assert DIRECT_SEND not in offered


async def test_a_handshake_that_never_finishes_is_dropped_in_time_and_blocks_no_one(
    certificate: ServerCertificate,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.frontend")
    config = replace(CONFIG, tls_handshake_timeout=10.0)
    async with tls_server(certificate, config=config) as (_, port, _):
        silent = await trio.open_tcp_stream("127.0.0.1", port)
        # Half a handshake: the first bytes of a ClientHello, then nothing.
        stalled = await trio.open_tcp_stream("127.0.0.1", port)
        await stalled.send_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        started = trio.current_time()
        # Meanwhile others are served at once.
        answer = await tls_get(port, certificate.client_context())
        assert answer.startswith(b"HTTP/1.1 200")
        assert trio.current_time() - started < 1
        with trio.fail_after(15):
            assert await read_to_end(silent) == b""
            assert await read_to_end(stalled) == b""
        assert 10 <= trio.current_time() - started < 11
    lines = [r.getMessage() for r in caplog.records if "not finished within" in r.getMessage()]
    assert lines == ["TLS handshake with 127.0.0.1 failed: not finished within 10 s"] * 2
    assert not failures(caplog)


async def test_plain_http_to_the_tls_port_gets_a_clean_close_and_one_line(
    certificate: ServerCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.frontend")
    async with tls_server(certificate) as (_, port, _):
        plain = await trio.open_tcp_stream("127.0.0.1", port)
        await plain.send_all(b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with trio.fail_after(5):
            # The end of the stream (a FIN), not a reset and not an answer.
            assert await read_to_end(plain) == b""
        # The server serves TLS clients as before.
        assert (await tls_get(port, certificate.client_context())).startswith(b"HTTP/1.1 200")
    lines = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(lines) == 1
    assert "plain HTTP" in lines[0]
    assert not failures(caplog)


async def test_a_client_that_does_not_trust_the_certificate_costs_one_line(
    certificate: ServerCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.frontend")
    async with tls_server(certificate) as (_, port, _):
        # OpenSSL on a socket, as curl and browsers use it: it tells the server why it
        # gives up (an alert). The system's CAs, not ours.
        with pytest.raises(ssl.SSLCertVerificationError):
            await trio.to_thread.run_sync(untrusting_client, port)
        assert (await tls_get(port, certificate.client_context())).startswith(b"HTTP/1.1 200")
    lines = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(lines) == 1
    assert "does not trust the certificate" in lines[0]
    assert not failures(caplog)


async def test_tls_connections_count_against_the_limits_from_their_accept(
    certificate: ServerCertificate,
) -> None:
    limits = ConnectionLimits(2, 100, TrustedProxies(()))
    async with tls_server(certificate, limits=limits) as (_, port, _):
        # Two connections that have not even started their handshakes fill the address.
        held = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        await trio.testing.wait_all_tasks_blocked()
        assert limits.open == 2
        over = await trio.open_tcp_stream("127.0.0.1", port)
        with trio.fail_after(5):
            # Closed without a word: a plain-text 429 means nothing to a TLS client, and an
            # answer over TLS would cost the handshake the refusal is there to save.
            assert await read_to_end(over) == b""
        # Another address is served; one of the first two leaving makes room again.
        context = certificate.client_context()
        assert (await tls_get(port, context, source="127.0.0.2")).startswith(b"HTTP/1.1 200")
        await held[0].aclose()
        await wait_until(lambda: limits.open == 1)
        assert (await tls_get(port, context)).startswith(b"HTTP/1.1 200")


async def test_a_shutdown_ends_handshakes_in_progress_at_once(
    certificate: ServerCertificate, autojump_clock: trio.testing.MockClock
) -> None:
    # Busy connections get the graceful timeout; one still in its handshake is idle.
    config = replace(CONFIG, graceful_timeout=30.0, tls_handshake_timeout=20.0)
    async with tls_server(certificate, config=config) as (server, port, shutdown):
        silent = await trio.open_tcp_stream("127.0.0.1", port)
        await trio.testing.wait_all_tasks_blocked()
        assert server.limits.open == 1
        started = trio.current_time()
        shutdown.set()
        with trio.fail_after(60):
            assert await read_to_end(silent) == b""
        assert trio.current_time() - started < 1
