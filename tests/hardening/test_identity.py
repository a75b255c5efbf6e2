"""The sessionId is a secret: it reaches its owner only, never others, logs or metrics."""

import json
import logging

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.rawclient import RawWebSocket, raw_websocket


async def _frames_until(client: RawWebSocket, marker: str) -> list[str]:
    frames = []
    while True:
        frame = await client.text()
        frames.append(frame)
        if marker in frame:
            return frames


async def test_session_id_never_leaves_its_owner(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server()
    async with raw_websocket(server.ws_url) as owner, raw_websocket(server.ws_url) as other:
        await other.send('40{"username":"other"}')
        seen_by_other = await _frames_until(other, '"users"')
        await owner.send('40{"username":"owner"}')
        owner_frames = await _frames_until(owner, '"users"')
        session_frame = next(f for f in owner_frames if f.startswith('42["session"'))
        session_id = json.loads(session_frame[2:])[1]["sessionId"]
        assert len(session_id) >= 22  # at least 128 bits, URL-safe base64

        await owner.send('421["message:channel:send","general","hi"]')
        seen_by_other += await _frames_until(other, '"hi"')
        await owner.send('422["user:leave"]')
        seen_by_other += await _frames_until(other, '"user:leave"')
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(server.url + "/metrics")).text

    assert not [frame for frame in seen_by_other if session_id in frame]
    assert session_id not in metrics
    assert not [r for r in caplog.records if session_id in r.getMessage()]


async def test_restoring_needs_the_exact_session_id(start_server: ServerFactory) -> None:
    server = await start_server()
    async with raw_websocket(server.ws_url) as owner:
        await owner.send('40{"username":"owner"}')
        frames = await _frames_until(owner, '"session"')
        session = json.loads(frames[-1][2:])[1]
    guess = session["sessionId"][:-1] + ("A" if session["sessionId"][-1] != "A" else "B")
    async with raw_websocket(server.ws_url) as intruder:
        await intruder.send("40" + json.dumps({"sessionId": guess}))
        frames = await _frames_until(intruder, '"session"')
        restored = json.loads(frames[-1][2:])[1]
    assert restored["userId"] != session["userId"]
    assert restored["username"].startswith("anonymous_")


async def test_a_session_id_that_is_not_valid_unicode_starts_fresh(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"sessionId":"\\ud800","username":"odd"}')
        frames = await _frames_until(client, '"session"')
        session = json.loads(frames[-1][2:])[1]
    assert session["username"] == "odd"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
