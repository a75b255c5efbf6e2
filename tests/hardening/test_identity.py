"""Who a user appears to be: the sessionId is a secret that reaches its owner only (never
others, logs or metrics); a name cannot pose as the server or hide characters; an avatar
cannot make every viewer's browser call this server or the viewer's own network."""

import json
import logging

import httpx
import pytest

from tests.support.rawclient import RawWebSocket, polling_handshake, polling_url, raw_websocket
from tests.support.servers import RunningServer, ServerFactory

# A 1x1 PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


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


async def _refusal(server: RunningServer, auth: dict[str, object]) -> str:
    """The message of the CONNECT_ERROR that a client reading them gets for `auth`."""
    async with raw_websocket(server.ws_url) as client:
        await client.send("40" + json.dumps({**auth, "connectErrors": True}))
        answer = await client.text()
    assert answer.startswith("44"), answer
    message: str = json.loads(answer[2:])["message"]
    return message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("\u0405\u0443\u0455t\u0435m", "looks like 'system', which is reserved"),
        ("\uff33\uff39\uff33\uff34\uff25\uff2d", "looks like 'system', which is reserved"),
        ("Syst\u00e9m", "looks like 'system', which is reserved"),
        ("Sys\u200btem", "username may not contain invisible characters (U+200B ZERO WIDTH"),
        # Displays as "System", and would turn the rest of the join line around.
        ("\u202emetsyS", "invisible characters (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("\u3164", "username has no visible characters"),
        ("\u200b\u2800", "username has no visible characters"),
        ("Z" + "\u0336\u0337\u0338\u0339\u033a" * 3, "username stacks 15 combining marks"),
    ],
)
async def test_names_that_pose_or_hide_are_refused_at_connect(
    start_server: ServerFactory, name: str, reason: str
) -> None:
    server = await start_server()
    assert reason in await _refusal(server, {"username": name})


async def test_an_avatar_at_the_servers_own_api_is_refused(start_server: ServerFactory) -> None:
    server = await start_server()
    own_api = f"https://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=polling"
    reason = await _refusal(server, {"username": "mallory", "avatar": own_api})
    assert reason == "avatar URL may not point at this server (127.0.0.1)"
    relative = await _refusal(
        server, {"username": "mallory", "avatar": "/socket.io/?EIO=4&transport=polling"}
    )
    assert relative == "avatar must be an https:// image URL or a data:image/...;base64 image"


@pytest.mark.parametrize(
    ("avatar", "reason"),
    [
        ("https://localhost/a.png", "avatar URL may not point at localhost"),
        (
            "https://192.168.0.1/a.png",
            "avatar URL may not point at a loopback, private or reserved address",
        ),
        ("https://user:pw@cdn.example.net/a.png", "avatar URL may not contain credentials"),
        ("data:image/svg+xml;base64,PHN2Zz4=", "avatar data: URL must be a base64 PNG"),
        ("data:image/png;base64," + "A" * 9000, "avatar data: image is too large"),
    ],
)
async def test_avatars_that_reach_the_viewers_network_are_refused(
    start_server: ServerFactory, avatar: str, reason: str
) -> None:
    server = await start_server()
    refusal = await _refusal(server, {"username": "mallory", "avatar": avatar})
    assert refusal.startswith(reason)


async def test_the_server_is_the_host_the_client_named(start_server: ServerFactory) -> None:
    # A public address a browser could know this server by: refused when it is the Host the
    # client connected to, any other host's image otherwise.
    server = await start_server()
    avatar = "https://93.184.216.34/socket.io/?EIO=4&transport=polling"
    auth = json.dumps({"username": "mallory", "avatar": avatar, "connectErrors": True})
    async with httpx.AsyncClient(headers={"Host": "93.184.216.34:8181"}) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        await http.post(polling_url(server.url, sid), content="40" + auth)
        answer = (await http.get(polling_url(server.url, sid))).text
    assert answer.startswith("44"), answer
    assert json.loads(answer[2:]) == {
        "message": "avatar URL may not point at this server (93.184.216.34)"
    }
    async with raw_websocket(server.ws_url) as client:  # Host: 127.0.0.1:<port>
        await client.send("40" + auth)
        frames = await _frames_until(client, '"session"')
    assert json.loads(frames[-1][2:])[1]["avatar"] == avatar


@pytest.mark.parametrize("avatar", ["https://cdn.example.net/avatars/ada.png", PIXEL])
async def test_an_image_avatar_is_accepted_and_sent_with_joins_and_messages(
    start_server: ServerFactory, avatar: str
) -> None:
    server = await start_server()
    async with raw_websocket(server.ws_url) as watcher, raw_websocket(server.ws_url) as ada:
        await watcher.send('40{"username":"watcher"}')
        await _frames_until(watcher, '"users"')
        await ada.send("40" + json.dumps({"username": "ada", "avatar": avatar}))
        frames = await _frames_until(ada, '"users"')
        session = next(json.loads(f[2:])[1] for f in frames if f.startswith('42["session"'))
        assert session["avatar"] == avatar
        joined = (await _frames_until(watcher, '"user:join"'))[-1]
        assert json.loads(joined[2:])[1] == {
            "userId": session["userId"],
            "username": "ada",
            "connected": True,
            "role": "guest",
            "avatar": avatar,
        }
        await ada.send('421["message:channel:send","general","hello"]')
        said = (await _frames_until(watcher, '"hello"'))[-1]
        assert json.loads(said[2:])[2]["avatar"] == avatar
