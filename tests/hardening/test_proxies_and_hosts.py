"""Who a request comes from behind a proxy, which names the server answers to, and who may
read /metrics: on both front ends, through real sockets."""

import logging

import httpx
import pytest
from trio_websocket import open_websocket_url

from tests.support.rawclient import (
    polling_connect,
    polling_handshake,
    raw_websocket,
    websocket_handshake_head,
)
from tests.support.servers import RunningServer, ServerFactory

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
ALICE = "203.0.113.7"
BOB = "198.51.100.23"


def _via_proxy(client: str) -> dict[str, str]:
    # What nginx's `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for` sends for
    # a client that wrote a forged entry of its own first.
    return {"X-Forwarded-For": f"10.9.9.9, {client}"}


async def test_behind_a_trusted_proxy_limits_count_each_client(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The test client connects from 127.0.0.1, a trusted proxy by default.
    caplog.set_level(logging.INFO, logger="minidiscord")
    server = await start_server(ip_max_sessions=2)
    async with httpx.AsyncClient(headers=_via_proxy(ALICE)) as alice:
        for _ in range(2):
            await polling_connect(alice, server.url)
        refused = await alice.get(server.url + HANDSHAKE)
        assert refused.status_code == 429
    async with httpx.AsyncClient(headers=_via_proxy(BOB)) as bob:
        await polling_connect(bob, server.url)
    assert f"from {ALICE}:0" in caplog.text
    assert "10.9.9.9" not in caplog.text  # written by the client: never believed
    assert server.app.engine.admission.sessions_of(ALICE) == 2
    assert server.app.engine.admission.sessions_of(BOB) == 1


async def test_one_client_behind_the_proxy_cannot_lock_others_out(
    start_server: ServerFactory,
) -> None:
    # One client opens 1,000 half-open handshakes through the proxy.
    server = await start_server(ip_max_sessions=20, max_connections=50)
    async with httpx.AsyncClient(headers=_via_proxy(ALICE)) as alice:
        for _ in range(200):
            assert (await alice.get(server.url + HANDSHAKE)).status_code == 200
        # Alice herself still gets in: her half-open sessions give way.
        await polling_connect(alice, server.url)
    async with httpx.AsyncClient(headers=_via_proxy(BOB)) as bob:
        await polling_connect(bob, server.url)
    ws_headers = [(b"x-forwarded-for", BOB.encode())]
    url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket"
    async with open_websocket_url(url, extra_headers=ws_headers) as ws:
        assert str(await ws.get_message()).startswith("0{")
        await ws.send_message("40")
        assert str(await ws.get_message()).startswith("40{")


async def test_the_forwarded_header_is_read_too(start_server: ServerFactory) -> None:
    server = await start_server()
    headers = {"Forwarded": f'for="[2001:db8::1]:4711";proto=https, for={ALICE}'}
    async with httpx.AsyncClient(headers=headers) as http:
        await polling_connect(http, server.url)
    # The nearest untrusted hop is the client: ALICE (the entry left of it is hers to write).
    assert server.app.engine.admission.sessions_of(ALICE) == 1


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(
    start_server: ServerFactory,
) -> None:
    server = await start_server(forwarded_allow_ips=("192.0.2.1",), ip_max_sessions=2)
    async with httpx.AsyncClient(headers=_via_proxy(ALICE)) as spoofer:
        for _ in range(2):
            await polling_connect(spoofer, server.url)
        assert (await spoofer.get(server.url + HANDSHAKE)).status_code == 429
    assert server.app.engine.admission.sessions_of("127.0.0.1") == 2
    assert server.app.engine.admission.sessions_of(ALICE) == 0


async def _status(server: RunningServer, path: str, host: str) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(server.url + path, headers={"Host": host})).status_code


@pytest.mark.parametrize("path", ["/", HANDSHAKE, "/metrics", "/healthz"])
async def test_a_foreign_host_name_is_refused(start_server: ServerFactory, path: str) -> None:
    # DNS rebinding: evil.example resolves to the server, but the Host header tells.
    server = await start_server()
    assert await _status(server, path, "evil.example") == 400
    assert await _status(server, path, f"evil.example:{server.port}") == 400
    for allowed in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]", "10.1.2.3"):
        assert await _status(server, path, allowed) in (200, 204), allowed


async def test_allowed_hosts_add_names_and_domains(start_server: ServerFactory) -> None:
    server = await start_server(allowed_hosts=("chat.example.com", ".example.org"))
    assert await _status(server, "/healthz", "chat.example.com") == 200
    assert await _status(server, "/healthz", "CHAT.example.com.:443") == 200
    assert await _status(server, "/healthz", "example.org") == 200
    assert await _status(server, "/healthz", "a.b.example.org") == 200
    assert await _status(server, "/healthz", "example.com") == 400
    assert await _status(server, "/healthz", "evilexample.org") == 400


async def test_a_websocket_for_a_foreign_host_is_refused(start_server: ServerFactory) -> None:
    server = await start_server()
    head = await websocket_handshake_head(server.port, host=b"evil.example")
    assert head.startswith(b"http/1.1 400"), head
    async with raw_websocket(server.ws_url) as client:
        await client.join()


async def test_metrics_can_require_a_token(start_server: ServerFactory) -> None:
    server = await start_server(metrics_token="s3cret")
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url + "/metrics")).status_code == 401
        wrong = await http.get(server.url + "/metrics", headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 401
        right = await http.get(server.url + "/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert "minidiscord_connected_clients" in right.text
        # Everything else stays open.
        assert (await http.get(server.url + "/healthz")).status_code == 200
        await polling_handshake(http, server.url)
