"""Engine.IO handshake and the protocol's HTTP errors (engine.io-protocol, "Handshake", "URLs")."""

import json

import httpx
import pytest

from .wire import (
    HANDSHAKE_KEYS,
    MAX_PAYLOAD,
    PING_INTERVAL,
    PING_TIMEOUT,
    Target,
    error,
    expect_refused,
    open_polling,
    open_websocket_session,
    websocket,
)


async def test_polling_handshake(http: httpx.AsyncClient, target: Target) -> None:
    response = await http.get(target.url(EIO="4", transport="polling"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("0")
    handshake = json.loads(response.text[1:])
    assert set(handshake) == HANDSHAKE_KEYS
    assert isinstance(handshake["sid"], str)
    assert handshake["sid"]
    assert handshake["upgrades"] == ["websocket"]
    assert handshake["pingInterval"] == PING_INTERVAL * 1000
    assert handshake["pingTimeout"] == PING_TIMEOUT * 1000
    assert handshake["maxPayload"] == MAX_PAYLOAD


async def test_session_ids_are_distinct(http: httpx.AsyncClient, target: Target) -> None:
    sids = {(await open_polling(http, target))[0] for _ in range(5)}
    assert len(sids) == 5


async def test_websocket_handshake(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        handshake = await open_websocket_session(ws)
    assert set(handshake) == HANDSHAKE_KEYS
    assert isinstance(handshake["sid"], str)
    assert handshake["upgrades"] == []
    assert handshake["pingInterval"] == PING_INTERVAL * 1000
    assert handshake["pingTimeout"] == PING_TIMEOUT * 1000
    assert handshake["maxPayload"] == MAX_PAYLOAD


@pytest.mark.parametrize(
    "params",
    [
        {"transport": "polling"},
        {"EIO": "abc", "transport": "polling"},
        {"EIO": "3", "transport": "polling"},
    ],
    ids=["missing", "not-a-number", "version-3"],
)
async def test_unsupported_protocol_version(
    http: httpx.AsyncClient, target: Target, params: dict[str, str]
) -> None:
    response = await http.get(target.url(**params))
    assert error(response) == (400, 5, "Unsupported protocol version")


@pytest.mark.parametrize(
    "params", [{"EIO": "4"}, {"EIO": "4", "transport": "abc"}], ids=["missing", "unknown"]
)
async def test_unknown_transport(
    http: httpx.AsyncClient, target: Target, params: dict[str, str]
) -> None:
    response = await http.get(target.url(**params))
    assert error(response) == (400, 0, "Transport unknown")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_bad_handshake_method(http: httpx.AsyncClient, target: Target, method: str) -> None:
    response = await http.request(method, target.url(EIO="4", transport="polling"))
    assert error(response) == (400, 2, "Bad handshake method")


async def test_the_method_is_checked_before_the_protocol_version(
    http: httpx.AsyncClient, target: Target
) -> None:
    # The reference checks the version only once it opens a session.
    response = await http.post(target.url(EIO="3", transport="polling"), content="4x")
    assert error(response) == (400, 2, "Bad handshake method")


@pytest.mark.parametrize("params", [{"EIO": "4"}, {"EIO": "3"}], ids=["version-4", "version-3"])
async def test_a_websocket_handshake_over_plain_http_is_a_bad_request(
    http: httpx.AsyncClient, target: Target, params: dict[str, str]
) -> None:
    response = await http.get(target.url(transport="websocket", **params))
    assert error(response) == (400, 3, "Bad request")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_sid(http: httpx.AsyncClient, target: Target, method: str) -> None:
    response = await http.request(method, target.polling("not-a-session"), content="4x")
    assert error(response) == (400, 1, "Session ID unknown")


async def test_transport_mismatch_is_a_bad_request(http: httpx.AsyncClient, target: Target) -> None:
    # A websocket session cannot be reached over polling.
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        sid = (await open_websocket_session(ws))["sid"]
        response = await http.get(target.polling(sid))
        assert error(response) == (400, 3, "Bad request")


@pytest.mark.parametrize(
    "params",
    [
        {"transport": "websocket"},
        {"EIO": "abc", "transport": "websocket"},
        {"EIO": "4"},
        {"EIO": "4", "transport": "abc"},
        {"EIO": "4", "transport": "websocket", "sid": "nope"},
    ],
    ids=["no-version", "bad-version", "no-transport", "unknown-transport", "unknown-sid"],
)
async def test_websocket_refusals(target: Target, params: dict[str, str]) -> None:
    await expect_refused(target.ws_url(**params))


async def test_other_paths_are_not_engine_io(http: httpx.AsyncClient, target: Target) -> None:
    response = await http.get(f"{target.base}/elsewhere/?EIO=4&transport=polling")
    assert response.status_code == 404
