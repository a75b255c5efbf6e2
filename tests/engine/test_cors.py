"""Origins: the allow-list admits, CORS headers tell browsers, other origins are refused."""

import httpx
import pytest
from trio_websocket import HandshakeError, open_websocket_url

from tests.support.servers import ServerFactory

ALLOWED = "http://localhost:4173"
FOREIGN = "http://evil.example"
POLL = "/socket.io/?EIO=4&transport=polling"


async def test_allowed_origin_gets_credentialed_cors_headers(start_server: ServerFactory) -> None:
    server = await start_server(cors_origins=(ALLOWED,))
    async with httpx.AsyncClient() as http:
        response = await http.get(server.url + POLL, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_preflight_for_an_allowed_origin(start_server: ServerFactory) -> None:
    server = await start_server(cors_origins=(ALLOWED,))
    async with httpx.AsyncClient() as http:
        response = await http.options(
            server.url + POLL,
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type"


async def test_foreign_origin_is_refused_on_polling_and_preflight(
    start_server: ServerFactory,
) -> None:
    server = await start_server(cors_origins=(ALLOWED,))
    async with httpx.AsyncClient() as http:
        response = await http.get(server.url + POLL, headers={"Origin": FOREIGN})
        assert response.status_code == 403
        assert response.json() == {"code": 4, "message": "Forbidden"}
        assert "access-control-allow-origin" not in response.headers
        preflight = await http.options(server.url + POLL, headers={"Origin": FOREIGN})
        assert preflight.status_code == 403


async def test_same_origin_and_originless_requests_are_admitted(
    start_server: ServerFactory,
) -> None:
    server = await start_server(cors_origins=(ALLOWED,))
    async with httpx.AsyncClient() as http:
        own = await http.get(server.url + POLL, headers={"Origin": server.url})
        assert own.status_code == 200
        bare = await http.get(server.url + POLL)
        assert bare.status_code == 200


async def test_websocket_from_a_foreign_origin_is_refused(start_server: ServerFactory) -> None:
    # Cross-site WebSocket hijacking: browsers send Origin on upgrades and do not apply CORS.
    server = await start_server(cors_origins=(ALLOWED,))
    url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(HandshakeError):
        async with open_websocket_url(url, extra_headers=[(b"Origin", FOREIGN.encode())]):
            pass
    async with open_websocket_url(url, extra_headers=[(b"Origin", ALLOWED.encode())]) as ws:
        assert str(await ws.get_message()).startswith("0{")


async def test_star_admits_any_origin_without_credentials(start_server: ServerFactory) -> None:
    # With "*", a page on any site may use the server, but never with its users' cookies;
    # origins named besides "*" (and the server's own) keep credentialed answers.
    server = await start_server(cors_origins=("*", ALLOWED))
    async with httpx.AsyncClient() as http:
        foreign = await http.get(server.url + POLL, headers={"Origin": FOREIGN})
        named = await http.get(server.url + POLL, headers={"Origin": ALLOWED})
        preflight = await http.options(
            server.url + POLL,
            headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
        )
    assert foreign.status_code == 200
    assert foreign.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in foreign.headers
    assert named.headers["access-control-allow-origin"] == ALLOWED
    assert named.headers["access-control-allow-credentials"] == "true"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers
