"""A real server under hostile clients: random frames and event arguments, websocket and polling.

For every input the server must answer with the protocol's error or close the connection
(checked with a probe request, within a bounded wait: never a hang), keep serving a bystander,
and log nothing at ERROR or above. Runs are reproducible: FUZZ_SEED picks the inputs,
FUZZ_CASES how many (kept small by default so the suite stays fast).
"""

import json
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from tests.support.rawclient import RawWebSocket, polling_handshake, polling_url, raw_websocket
from tests.support.servers import RunningServer, ServerFactory

from .hostile import event_frame, hostile_args, random_socketio_text, raw_json_texts

SEED = int(os.environ.get("FUZZ_SEED", "20240608"))
CASES = int(os.environ.get("FUZZ_CASES", "60"))
# Generous: a loaded CI machine is slow, but a hang is minutes, not seconds.
ANSWER_TIMEOUT = 10.0
PROBE_ACK = 777_777


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


@pytest.fixture
async def chat(start_server: ServerFactory, tmp_path: Path) -> RunningServer:
    # SQLite, the production store: it is the one that meets odd values at the bottom.
    return await start_server(store="sqlite", db_path=str(tmp_path / "fuzz.db"))


async def read_session(client: RawWebSocket) -> dict[str, Any]:
    """Frames after a CONNECT, up to the `session` event (CONNECT_ERROR raises)."""
    while True:
        frame = await client.receive_skipping_pings()
        assert isinstance(frame, str), frame
        if frame.startswith("44"):
            raise AssertionError(f"connect refused: {frame}")
        if frame.startswith('42["session",'):
            session: dict[str, Any] = json.loads(frame[2:])[1]
            return session


@asynccontextmanager
async def chat_client(server: RunningServer, name: str) -> AsyncIterator[RawWebSocket]:
    async with raw_websocket(server.ws_url) as client:
        await client.send("40" + json.dumps({"username": name}))
        with trio.fail_after(ANSWER_TIMEOUT):
            await read_session(client)
        yield client


class Bystander:
    """A well-behaved user who must keep receiving chat whatever the others send."""

    def __init__(self, client: RawWebSocket) -> None:
        self.client = client
        self.texts: list[str] = []
        self.closed = False
        self._arrived = trio.Event()

    async def read(self) -> None:
        try:
            while True:
                frame = await self.client.receive_skipping_pings()
                if isinstance(frame, str) and frame.startswith('42["message:channel",'):
                    self.texts.append(json.loads(frame[2:])[2]["message"])
                    self._arrived.set()
                    self._arrived = trio.Event()
        except ConnectionClosed:
            self.closed = True

    async def wait_for(self, text: str) -> None:
        with trio.fail_after(ANSWER_TIMEOUT):
            while text not in self.texts:
                await self._arrived.wait()


async def check_still_serving(server: RunningServer, bystander: Bystander, tag: str) -> None:
    async with chat_client(server, "speaker") as speaker:
        text = f"still here {tag}"
        await speaker.send(event_frame("message:channel:send", ["general", text], 1))
        await bystander.wait_for(text)
    assert not bystander.closed


async def probe(client: RawWebSocket, acks: set[int]) -> str:
    """Whether the connection still answers ('answered') or the server closed it ('closed').

    The probe joins "/" (ignored when already joined) then asks for history with an ack;
    the server handles one connection's packets in order, so the answer also means every
    earlier input was handled. Acks seen on the way are collected into ``acks``.
    """
    try:
        await client.send('40{"username":"probe"}')
        await client.send(event_frame("channel:history", ["general", {"limit": 1}], PROBE_ACK))
        with trio.fail_after(ANSWER_TIMEOUT):
            while True:
                frame = await client.receive_skipping_pings()
                if not isinstance(frame, str):
                    continue
                if frame.startswith("43"):
                    ack_id = int(frame[2:].split("[", 1)[0])
                    if ack_id == PROBE_ACK:
                        return "answered"
                    acks.add(ack_id)
                elif frame.startswith("44{") or frame == "1":
                    # "/" refused the probe's CONNECT: an answer, and no history will come.
                    return "answered"
    except ConnectionClosed:
        return "closed"


async def attack_websocket(
    server: RunningServer, frames: list[str | bytes], *, joined: bool
) -> tuple[str, set[int]]:
    acks: set[int] = set()
    context = chat_client(server, "fuzzer") if joined else raw_websocket(server.ws_url)
    async with context as client:
        try:
            for frame in frames:
                await client.send(frame)
        except ConnectionClosed:
            return "closed", acks
        return await probe(client, acks), acks


def ack_ids_due(frames: list[str | bytes]) -> set[int]:
    """Acks the server owes: valid events with an ack id for the chat's own handlers."""
    due: set[int] = set()
    for frame in frames:
        if not isinstance(frame, str) or not frame.startswith("42"):
            continue
        head, bracket, rest = frame[2:].partition("[")
        if not bracket or not head.isdigit():
            continue
        try:
            event = json.loads(bracket + rest)[0]
        except (ValueError, IndexError, TypeError):
            continue
        if event in ("message:channel:send", "channel:history"):
            due.add(int(head))
    return due


def random_frames(rng: random.Random) -> list[str | bytes]:
    frames: list[str | bytes] = []
    for _ in range(rng.randrange(1, 4)):
        roll = rng.random()
        if roll < 0.45:
            args = hostile_args(rng)
            event = rng.choice(["message:channel:send", "channel:history", "no such event"])
            frames.append(event_frame(event, args, rng.randrange(0, 1000)))
        elif roll < 0.8:
            frames.append("4" + random_socketio_text(rng))
        elif roll < 0.9:
            frames.append(rng.choice(["", "7", "4", "5", "0", "2probe", "6", "\x1e"]))
        else:
            frames.append(rng.randbytes(rng.randrange(0, 40)))
    return frames


@pytest.mark.slow
async def test_random_frames_over_websocket(
    chat: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(SEED)
    async with chat_client(chat, "bystander") as client, trio.open_nursery() as nursery:
        bystander = Bystander(client)
        nursery.start_soon(bystander.read)
        for case in range(CASES):
            frames = random_frames(rng)
            joined = rng.random() < 0.7
            try:
                outcome, acks = await attack_websocket(chat, frames, joined=joined)
            except trio.TooSlowError:
                pytest.fail(f"seed {SEED} case {case}: no answer (joined={joined}): {frames!r}")
            if outcome == "answered" and joined:
                missing = ack_ids_due(frames) - acks
                assert not missing, f"seed {SEED} case {case}: no ack for {missing}: {frames!r}"
            assert not errors_in(caplog), f"seed {SEED} case {case}: {frames!r}"
        await check_still_serving(chat, bystander, "after websocket fuzz")
        nursery.cancel_scope.cancel()
    assert not errors_in(caplog)


# Hand-picked inputs, each with the answer the protocol asks for.
CRAFTED: list[tuple[list[str | bytes], str]] = [
    ([f'42["x",{text}]'], "any") for text in raw_json_texts()
]
CRAFTED += [
    ([b"\x00\x01"], "closed"),  # binary where no attachment is expected
    (['451-["message:channel:send","general",{"_placeholder":true,"num":0}]', "41"], "closed"),
    (['452-["message:channel:send","general","x"]', b"a", b"b", b"c"], "closed"),
    (['4510-["message:channel:send"]'], "closed"),  # waits for attachments, then the probe
    (['451000000-["x"]'], "closed"),
    ([f'42{2**53}["channel:history","general"]'], "closed"),
    (['42-1["channel:history","general"]'], "closed"),
    (["40/nope,{}"], "answered"),  # CONNECT_ERROR for an unknown namespace
    (["40/\u0000\U0001f600,{}"], "answered"),
    (["40/a/b?c=d,"], "answered"),
    (["40" + "/" * 10_000 + ","], "answered"),
    (['40{"username":"' + "x" * 500_000 + '"}'], "answered"),
    (["4" + "2" + "[" * 200_000], "closed"),
    (["42" + json.dumps(["message:channel:send", "general", "x" * 900_000])], "any"),
    (["4" * 1_000_001], "closed"),  # over max_payload
    (["5"], "closed"),  # UPGRADE on an open websocket
    (["0"], "closed"),
    (["1"], "closed"),
]


@pytest.mark.parametrize(("frames", "expected"), CRAFTED, ids=lambda v: repr(v)[:40])
async def test_crafted_frames_over_websocket(
    chat: RunningServer,
    caplog: pytest.LogCaptureFixture,
    frames: list[str | bytes],
    expected: str,
) -> None:
    for joined in (False, True):
        outcome, _ = await attack_websocket(chat, frames, joined=joined)
        if expected != "any":
            assert outcome == expected, (joined, frames[0][:80])
    assert not errors_in(caplog)


KNOWN_BUGS = [
    pytest.param(
        ["channel:history", "general", {"before": -(2**70)}], id="history-before-below-int64"
    ),
    pytest.param(
        ["message:channel:send", "general", "lone \ud800 surrogate"],
        id="message-with-lone-surrogate",
    ),
    pytest.param(
        ["channel:history", "general", {"before": 2**70}],
        id="history-before-beyond-int64",
    ),
]


@pytest.mark.parametrize("event", KNOWN_BUGS)
async def test_inputs_that_reach_the_store(
    chat: RunningServer, caplog: pytest.LogCaptureFixture, event: list[Any]
) -> None:
    name, *args = event
    outcome, acks = await attack_websocket(chat, [event_frame(name, args, 5)], joined=True)
    assert outcome == "answered"
    assert 5 in acks
    assert not errors_in(caplog)


async def test_leave_with_an_ack_is_answered(chat: RunningServer) -> None:
    """`user:leave` with an ack id: the ack first, then the server's namespace disconnect."""
    async with chat_client(chat, "leaver") as client:
        await client.send(event_frame("user:leave", [], 3))
        with trio.fail_after(ANSWER_TIMEOUT):
            frame = await client.text()
            while not frame.startswith(("43", "41")):
                frame = await client.text()
            assert frame == '433[{"ok":true}]'
            assert await client.text() == "41"


@pytest.mark.slow
async def test_random_payloads_over_polling(
    chat: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(SEED + 1)
    timeout = httpx.Timeout(ANSWER_TIMEOUT)
    async with chat_client(chat, "bystander") as client, trio.open_nursery() as nursery:
        bystander = Bystander(client)
        nursery.start_soon(bystander.read)
        async with httpx.AsyncClient(timeout=timeout) as http:
            for case in range(CASES // 2):
                body = polling_body(rng)
                sid = (await polling_handshake(http, chat.url))["sid"]
                url = polling_url(chat.url, sid)
                if rng.random() < 0.5:
                    joined = await http.post(url, content='40{"username":"poller"}')
                    assert joined.status_code == 200
                    assert (await http.get(url)).status_code == 200
                response = await http.post(url, content=body)
                assert response.status_code in (200, 400), (case, body[:80])
                # The session answers a poll (data, or the close after an error) or is gone.
                poll = await http.get(url)
                assert poll.status_code in (200, 400), (case, body[:80])
                if poll.status_code == 400:
                    assert poll.json()["code"] in (1, 3)
                await http.post(url, content="1")
                assert not errors_in(caplog), f"seed {SEED} case {case}: {body[:200]!r}"
            for path, params in [
                ("/socket.io/", {"EIO": "4", "transport": "polling", "sid": "nope"}),
                ("/socket.io/", {"EIO": "3", "transport": "polling"}),
                ("/socket.io/", {"EIO": "4", "transport": "carrier-pigeon"}),
                ("/socket.io/", {"EIO": "\U0001f600", "transport": "polling"}),
            ]:
                refused = await http.get(chat.url + path, params=params)
                assert refused.status_code == 400
                assert "code" in refused.json()
        await check_still_serving(chat, bystander, "after polling fuzz")
        nursery.cancel_scope.cancel()
    assert not errors_in(caplog)


def polling_body(rng: random.Random) -> bytes:
    roll = rng.randrange(6)
    if roll == 0:
        return rng.randbytes(rng.randrange(0, 64))
    if roll == 1:
        return b"4" + random_socketio_text(rng).encode("utf-8", "surrogatepass")
    if roll == 2:
        parts = [("4" + random_socketio_text(rng)) for _ in range(rng.randrange(1, 5))]
        return "\x1e".join(parts).encode("utf-8", "surrogatepass")
    if roll == 3:
        return rng.choice([b"b", b"b!!", b"bAAA", b"bAQID\x1e4", b"\x1e", b"4\x1e\x1e4", b"6"])
    if roll == 4:
        return "\x1e".join(["6"] * rng.choice([999, 1001])).encode()
    frame = event_frame("message:channel:send", hostile_args(rng), rng.randrange(0, 50))
    return frame.encode("utf-8", "surrogatepass")


async def send_raw_frame(server: RunningServer, opcode: int, payload: bytes) -> bytes:
    """Open a websocket by hand and send one (masked) frame nobody's library would send."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        assert len(payload) < 126
        await stream.send_all(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)
        received = b""
        with trio.fail_after(ANSWER_TIMEOUT):
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return received
                received += data


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [
        (0x1, b"40\xff\xfe"),  # a text frame that is not UTF-8
        (0x1, b'42["x","\xed\xa0\x80"]'),  # a UTF-8-encoded surrogate
        (0x3, b"reserved opcode"),
        (0x9, b"x" * 125),  # ping: answered, then the server waits for more
        (0x0, b"continuation of nothing"),
    ],
)
async def test_broken_websocket_frames(
    chat: RunningServer, caplog: pytest.LogCaptureFixture, opcode: int, payload: bytes
) -> None:
    with trio.move_on_after(ANSWER_TIMEOUT / 2) as waiting:
        await send_raw_frame(chat, opcode, payload)
    # Only a valid ping may leave the connection open (the heartbeat ends it later).
    assert not waiting.cancelled_caught or opcode == 0x9
    async with chat_client(chat, "after") as client:
        await client.send(event_frame("channel:history", ["general"], 1))
        with trio.fail_after(ANSWER_TIMEOUT):
            frame = await client.text()
            while not frame.startswith("43"):
                frame = await client.text()
        assert frame.startswith('431[{"ok":true')
    assert not errors_in(caplog)
