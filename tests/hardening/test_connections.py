"""TCP connections are capped per client address and in all, at accept time, on both front ends.

Clients come from several loopback addresses (Linux routes all of 127/8 to lo), so one
test has a capped address and a bystander. The file limit is never lowered here: the
cap on all connections is computed from a small limit passed in instead.
"""

import logging
import resource
from dataclasses import replace
from types import SimpleNamespace

import httpx
import pytest
import trio
import trio.testing

from minidiscord.addresses import TrustedProxies
from minidiscord.app import create_app
from minidiscord.frontend import connlimits
from minidiscord.frontend.connlimits import (
    ARRIVING_TOO_FAST,
    SERVER_FULL,
    TOO_MANY_FROM_ADDRESS,
    ConnectionLimits,
    connection_budget,
    raise_file_limit,
)
from minidiscord.hostfixes import connection_limits_of
from minidiscord.limits import Rate
from tests.frontend.test_native_server import ask
from tests.support.rawclient import polling_handshake, polling_url, read_to_end
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory
from tests.support.tls import ServerCertificate

FRONTENDS = ["hypercorn", "native"]
OK = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CAPPED = "127.0.0.1"
BYSTANDER = "127.0.0.2"


async def _connect(server: RunningServer, source: str) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", server.port, local_address=source)


async def _served(server: RunningServer, source: str) -> trio.SocketStream:
    """A connection from ``source`` that the server answers (left open, kept alive)."""
    stream = await _connect(server, source)
    assert (await ask(stream, OK)).startswith(b"HTTP/1.1 200")
    return stream


async def _refusal(server: RunningServer, source: str) -> bytes:
    """Everything the server says to a connection from ``source`` before it closes it."""
    stream = await _connect(server, source)
    with trio.fail_after(10):
        return await read_to_end(stream, reset_ends=True)


async def _chats(server: RunningServer, source: str) -> None:
    """A client from ``source`` joins the chat (long-polling) and has a message accepted."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport) as http:
        url = polling_url(server.url, (await polling_handshake(http, server.url))["sid"])
        assert (await http.post(url, content='40{"username":"bystander"}')).text == "ok"
        send = '421["message:channel:send","general","hello"]'
        assert (await http.post(url, content=send)).text == "ok"
        received = ""
        with trio.fail_after(10):
            while '431[{"ok":true' not in received:
                received += (await http.get(url)).text
        assert received.startswith("40{")


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_connections_from_one_address_are_capped(
    start_server: ServerFactory, frontend: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(frontend=frontend, ip_max_connections=3, forwarded_allow_ips=())
    held = [await _served(server, CAPPED) for _ in range(3)]
    for _ in range(5):
        refused = await _refusal(server, CAPPED)
        assert refused.startswith(b"HTTP/1.1 429"), refused
        assert b"connection: close" in refused.lower()
    # A flood of refusals is one log line (per address, per interval).
    lines = [r for r in caplog.records if "refusing connections from 127.0.0.1" in r.message]
    assert len(lines) == 1
    # The first three are still served, and another address is not affected.
    for stream in held:
        assert (await ask(stream, OK)).startswith(b"HTTP/1.1 200")
    await _chats(server, BYSTANDER)
    # Closing one makes room for one.
    await held.pop().aclose()
    with trio.fail_after(10):
        # The server frees the place when it sees the close: no event tells the test.
        while not (await _refusal_or_served(server, CAPPED)):  # noqa: ASYNC110
            await trio.sleep(0.01)


async def _refusal_or_served(server: RunningServer, source: str) -> bool:
    """True if a new connection from ``source`` is served, False if it is refused."""
    stream = await _connect(server, source)
    await stream.send_all(OK)
    answer = b""
    with trio.fail_after(10):
        try:
            while b"\r\n" not in answer and (data := await stream.receive_some(4096)):
                answer += data
        except trio.BrokenResourceError:
            return False
    await stream.aclose()
    return answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_a_connection_the_client_closed_frees_its_place_at_once(
    start_server: ServerFactory, frontend: str, autojump_clock: trio.testing.MockClock
) -> None:
    # Not when the server's keep-alive timer would have closed it, a heartbeat cycle later.
    server = await start_server(
        frontend=frontend,
        ip_max_connections=2,
        forwarded_allow_ips=(),
        ping_interval=25.0,
        ping_timeout=20.0,
    )
    held = [await _served(server, CAPPED) for _ in range(2)]
    await trio.sleep(5.0)
    await held.pop().aclose()
    closed = trio.current_time()
    while not (await _refusal_or_served(server, CAPPED)):  # noqa: ASYNC110 - no event to wait on
        await trio.sleep(1.0)
    assert trio.current_time() - closed < 5.0


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_a_trusted_proxy_is_not_capped_per_address(
    start_server: ServerFactory, frontend: str
) -> None:
    server = await start_server(
        frontend=frontend, ip_max_connections=2, forwarded_allow_ips=(CAPPED,)
    )
    held = [await _served(server, CAPPED) for _ in range(4)]
    held += [await _served(server, BYSTANDER) for _ in range(2)]
    assert (await _refusal(server, BYSTANDER)).startswith(b"HTTP/1.1 429")
    assert len(held) == 6


async def _churn(server: RunningServer, source: str, count: int) -> None:
    """``count`` connections from ``source``, each served once and closed: none is held."""
    for _ in range(count):
        stream = await _served(server, source)
        await stream.aclose()


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_new_connections_from_one_address_are_rate_limited(
    start_server: ServerFactory,
    frontend: str,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Each connection is closed before the next: the cap never binds, only the rate does.
    server = await start_server(
        frontend=frontend, ip_connection_rate=Rate(3, 1.0), forwarded_allow_ips=()
    )
    await _churn(server, CAPPED, 3)
    for _ in range(5):
        refused = await _refusal(server, CAPPED)
        assert refused.startswith(b"HTTP/1.1 429"), refused
        assert ARRIVING_TOO_FAST.reason.encode() in refused
    lines = [r for r in caplog.records if "refusing connections from 127.0.0.1" in r.message]
    assert len(lines) == 1
    assert "faster than 3:1" in lines[0].message
    # Another address has its own rate.
    await _chats(server, BYSTANDER)
    # The bucket refills at its rate: one more a second.
    await trio.sleep(1.0)
    await _churn(server, CAPPED, 1)
    assert (await _refusal(server, CAPPED)).startswith(b"HTTP/1.1 429")


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_a_trusted_proxy_is_not_rate_limited_per_address(
    start_server: ServerFactory, frontend: str
) -> None:
    server = await start_server(
        frontend=frontend, ip_connection_rate=Rate(3, 1.0), forwarded_allow_ips=(CAPPED,)
    )
    await _churn(server, CAPPED, 10)
    await _churn(server, BYSTANDER, 3)
    assert (await _refusal(server, BYSTANDER)).startswith(b"HTTP/1.1 429")


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_a_tls_connection_over_the_rate_is_closed_before_its_handshake(
    start_server: ServerFactory, frontend: str, certificate: ServerCertificate
) -> None:
    # The handshake is what a churning TLS client costs the server most: none is done.
    server = await start_server(
        frontend=frontend,
        ip_connection_rate=Rate(2, 0.001),
        forwarded_allow_ips=(),
        **certificate.server_options,
    )
    context = certificate.client_context()
    for _ in range(2):
        stream = await _connect(server, CAPPED)
        tls = trio.SSLStream(stream, context, server_hostname="localhost")
        await tls.do_handshake()
        await tls.aclose()
    stream = await _connect(server, CAPPED)
    with trio.fail_after(10):
        # The end of the stream, without a byte of the server's side of the handshake.
        assert await stream.receive_some(65536) == b""


@pytest.fixture
def file_limit_104(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started now see a file limit of 104: room for 4 client connections."""
    monkeypatch.setattr(connlimits, "raise_file_limit", lambda: 104)


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.usefixtures("file_limit_104")
async def test_one_address_never_gets_more_than_half_the_connections(
    start_server: ServerFactory, frontend: str
) -> None:
    server = await start_server(frontend=frontend, forwarded_allow_ips=())  # option: 2000
    held = [await _served(server, CAPPED) for _ in range(2)]
    assert (await _refusal(server, CAPPED)).startswith(b"HTTP/1.1 429")
    held.append(await _served(server, BYSTANDER))


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.usefixtures("file_limit_104")
async def test_past_the_file_limits_reserve_every_address_is_refused(
    start_server: ServerFactory, frontend: str
) -> None:
    # A trusted proxy has no per-address cap, but the reserve holds for it too.
    server = await start_server(frontend=frontend, forwarded_allow_ips=(CAPPED,))
    held = [await _served(server, CAPPED) for _ in range(4)]
    assert len(held) == 4
    for source in (CAPPED, BYSTANDER):
        refused = await _refusal(server, source)
        assert refused.startswith(b"HTTP/1.1 503"), refused


def test_the_connection_budget_keeps_a_reserve_of_descriptors() -> None:
    assert connection_budget(150, reserve=100) == 50
    assert connection_budget(1024) == 924
    assert connection_budget(resource.RLIM_INFINITY) > 1000
    nobody = TrustedProxies(())
    assert ConnectionLimits(None, 50, nobody).per_address == 25
    assert ConnectionLimits(2000, 50, nobody).per_address == 25
    assert ConnectionLimits(10, 50, nobody).per_address == 10


def test_the_file_limit_is_raised_never_lowered() -> None:
    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_file_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= before
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    limits = ConnectionLimits(1, 100, TrustedProxies(()), clock=lambda: 0.0)
    with limits.connection("2001:db8::1") as first:
        assert first is None
        with limits.connection("2001:db8::2") as same_network:
            assert same_network is TOO_MANY_FROM_ADDRESS
        with limits.connection("2001:db8:0:1::1") as next_network:
            assert next_network is None
    with limits.connection("2001:db8::2") as again:
        assert again is None
    assert limits.open == 0


def test_refusals_are_logged_once_per_address_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "minidiscord.frontend")
    now = [0.0]
    limits = ConnectionLimits(1, 10, TrustedProxies(()), clock=lambda: now[0])

    def refuse(ip: str, times: int) -> None:
        for _ in range(times):
            with limits.connection(ip) as refusal:
                assert refusal is TOO_MANY_FROM_ADDRESS

    with limits.connection("10.0.0.1"), limits.connection("10.0.0.2"):
        refuse("10.0.0.1", 10)
        refuse("10.0.0.2", 10)
        now[0] = 30.0
        refuse("10.0.0.1", 10)
        now[0] = 61.0
        refuse("10.0.0.1", 1)
    assert [record.getMessage() for record in caplog.records] == [
        "refusing connections from 10.0.0.1: 1 open, all one address may have "
        "(0 more refused since the last such line)",
        "refusing connections from 10.0.0.2: 1 open, all one address may have "
        "(0 more refused since the last such line)",
        "refusing connections from 10.0.0.1: 1 open, all one address may have "
        "(19 more refused since the last such line)",
    ]


def test_refused_http2_streams_are_logged_once_per_address_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """hypercorn's HTTP/2 streams count under the same cap (minidiscord/hypercorn_h2limits.py);
    a flood of them, refused a read at a time, must not flood the log either."""
    caplog.set_level(logging.WARNING, "minidiscord.frontend")
    now = [0.0]
    limits = ConnectionLimits(2, 10, TrustedProxies(()), clock=lambda: now[0])
    key = limits.stream_key("10.0.0.1")
    assert key is not None
    assert limits.open_stream(key)
    assert limits.open_stream(key)
    assert [limits.open_stream(key) for _ in range(50)] == [False] * 50
    now[0] = 61.0
    assert not limits.open_stream(key)
    limits.close_stream(key)
    assert limits.open_stream(key)
    # A connection from the address is still counted apart from its streams.
    with limits.connection("10.0.0.1") as refusal:
        assert refusal is None
    assert [record.getMessage() for record in caplog.records] == [
        "refusing HTTP/2 streams from 10.0.0.1: 2 open, all one address may have "
        "(0 more refused since the last such line)",
        "refusing HTTP/2 streams from 10.0.0.1: 2 open, all one address may have "
        "(49 more refused since the last such line)",
    ]


def test_a_full_server_logs_its_refusals_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "minidiscord.frontend")
    limits = ConnectionLimits(None, 2, TrustedProxies(()), clock=lambda: 0.0)
    with limits.connection("10.0.0.1"), limits.connection("10.0.0.2"):
        for last in range(3, 103):
            with limits.connection(f"10.0.1.{last}") as refusal:
                assert refusal is SERVER_FULL
    assert [record.getMessage() for record in caplog.records] == [
        "refusing connections: 2 client connections open, all the file limit allows "
        "(0 more refused since the last such line)"
    ]


def test_hypercorn_run_by_its_own_command_takes_the_limits_from_the_app() -> None:
    # `hypercorn minidiscord.asgi:app` builds its own Config: the first connection finds
    # the app's settings behind hypercorn's wrapper and leaves the limits on that Config.
    app = create_app(replace(TEST_SETTINGS, ip_max_connections=7))
    tcp_server = SimpleNamespace(config=SimpleNamespace(), app=SimpleNamespace(app=app))
    limits = connection_limits_of(tcp_server)
    assert limits is not None
    assert limits.per_address == 7
    assert connection_limits_of(tcp_server) is limits
    assert connection_limits_of(SimpleNamespace(config=SimpleNamespace(), app=None)) is None
