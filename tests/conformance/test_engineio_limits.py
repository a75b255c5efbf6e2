"""maxPayload and CORS: what the handshake announces is what the server enforces."""

import httpx
import pytest

from .wire import (
    MAX_PAYLOAD,
    Target,
    expect_closed,
    open_polling,
    open_websocket_session,
    push,
    websocket,
)

ORIGIN = "http://elsewhere.example"


async def test_polling_body_over_max_payload_is_refused(
    http: httpx.AsyncClient, target: Target
) -> None:
    sid, _ = await open_polling(http, target)
    response = await push(http, target, sid, "4" + "x" * MAX_PAYLOAD)
    # The reference server answers 413 Payload Too Large.
    assert response.status_code == 413
    # Only the sender pays: the server still serves new sessions.
    await open_polling(http, target)


async def test_polling_body_at_max_payload_is_accepted(
    http: httpx.AsyncClient, engineio: Target
) -> None:
    sid, _ = await open_polling(http, engineio)
    body = "4" + "x" * (MAX_PAYLOAD - 1)
    response = await push(http, engineio, sid, body)
    assert response.status_code == 200


async def test_websocket_message_over_max_payload_closes(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await ws.send_message("4" + "x" * MAX_PAYLOAD)
        await expect_closed(ws)


async def test_cors_on_handshake(http: httpx.AsyncClient, target: Target) -> None:
    response = await http.get(target.url(EIO="4", transport="polling"), headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", ORIGIN)


async def test_cors_on_errors(http: httpx.AsyncClient, target: Target) -> None:
    response = await http.get(target.url(EIO="4", transport="abc"), headers={"Origin": ORIGIN})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] in ("*", ORIGIN)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_cors_preflight(http: httpx.AsyncClient, target: Target, method: str) -> None:
    response = await http.options(
        target.url(EIO="4", transport="polling"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] in ("*", ORIGIN)
    allowed = response.headers["access-control-allow-methods"].upper()
    assert method in allowed
    assert "content-type" in response.headers.get("access-control-allow-headers", "").lower()


async def test_credentialed_origin_is_reflected(http: httpx.AsyncClient, target: Target) -> None:
    # A browser refuses "*" for a credentialed request: if the server allows credentials
    # it must name the origin.
    response = await http.get(target.url(EIO="4", transport="polling"), headers={"Origin": ORIGIN})
    if response.headers.get("access-control-allow-credentials") == "true":
        assert response.headers["access-control-allow-origin"] == ORIGIN
