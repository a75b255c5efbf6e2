"""SIGKILL under load loses nothing acknowledged: a real server process, raw websocket clients.

Senders pipeline acknowledged ``message:channel:send`` events as fast as the server answers;
the server is killed mid-stream and restarted on the same database. Every acknowledged
message must then be there, with the id its ack gave, in order, exactly once; and since
grouped commits land in call order, the stored ids have no holes.
"""

import json
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from serverproc import free_port, server_args  # noqa: E402  (a script, found on the path above)

SENDERS = 8
WINDOW = 16  # unacknowledged messages each sender keeps in flight
KILL_AFTER_ACKS = 300
KILLS = 5
MAX_PER_SENDER = 5000  # bounds the load should the kill never come
SERVER_START_TIMEOUT = 10.0
TEST_TIMEOUT = 40.0  # seconds; normally done in a few


def server_command(port: int, db: Path) -> list[str]:
    # Limits off (serverproc's command): these clients send far faster than people, on purpose.
    return server_args(port, "--store", "sqlite", "--db", str(db), "--log-level", "warning")


async def start_server(port: int, db: Path, log: Path) -> trio.Process:
    with log.open("ab") as log_file:
        process = await trio.lowlevel.open_process(
            server_command(port, db), cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
        )
    with trio.move_on_after(SERVER_START_TIMEOUT):
        while process.poll() is None:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return process
    process.kill()
    await process.wait()
    raise AssertionError(f"the server did not start:\n{await trio.Path(log).read_text()}")


class SocketIO:
    """The few Engine.IO/Socket.IO frames a chat client needs, by hand."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.next_ack = 0

    @classmethod
    async def connect(cls, ws: WebSocketConnection, auth: dict[str, Any]) -> "SocketIO":
        opening = await ws.get_message()
        assert isinstance(opening, str)
        assert opening.startswith("0"), opening
        client = cls(ws)
        await ws.send_message("40" + json.dumps(auth))
        frame = await client.receive()
        assert frame.startswith("40{"), frame
        return client

    async def receive(self) -> str:
        """The next frame that is not an Engine.IO ping (pings are answered)."""
        while True:
            frame = await self.ws.get_message()
            assert isinstance(frame, str), frame
            if frame == "2":
                await self.ws.send_message("3")
                continue
            return frame

    async def event(self, name: str) -> list[Any]:
        """The args of the next `name` event, skipping others."""
        while True:
            frame = await self.receive()
            if frame.startswith("42["):
                packet = json.loads(frame[2:])
                if packet[0] == name:
                    return list(packet[1:])

    async def emit(self, *packet: Any) -> int:
        ack = self.next_ack
        self.next_ack += 1
        await self.ws.send_message(f"42{ack}{json.dumps(list(packet))}")
        return ack

    async def call(self, *packet: Any) -> Any:
        ack = await self.emit(*packet)
        while True:
            frame = await self.receive()
            if frame.startswith(f"43{ack}["):
                return json.loads(frame[len(f"43{ack}") :])[0]


@dataclass
class Sender:
    name: str
    acked: list[tuple[int, str]] = field(default_factory=list)  # (id, text) in send order
    session: dict[str, Any] = field(default_factory=dict)


async def send_until_cut_off(url: str, sender: Sender, acks: trio.MemorySendChannel[int]) -> None:
    """Pipeline messages with acks until the server goes away."""
    try:
        async with open_websocket_url(url) as ws:
            client = await SocketIO.connect(ws, {"username": sender.name})
            sender.session = (await client.event("session"))[0]
            texts: dict[int, str] = {}
            window = trio.Semaphore(WINDOW)

            async def pump() -> None:
                for seq in range(MAX_PER_SENDER):
                    await window.acquire()
                    text = f"{sender.name}-{seq}"
                    texts[await client.emit("message:channel:send", "general", text)] = text

            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump)
                while len(sender.acked) < MAX_PER_SENDER:
                    frame = await client.receive()
                    if not frame.startswith("43"):
                        continue  # broadcasts of everyone's messages
                    bracket = frame.index("[")
                    reply = json.loads(frame[bracket:])[0]
                    assert reply["ok"] is True, reply
                    sender.acked.append((reply["id"], texts.pop(int(frame[2:bracket]))))
                    window.release()
                    acks.send_nowait(1)
                nursery.cancel_scope.cancel()
    except* (ConnectionClosed, HandshakeError, OSError, trio.BrokenResourceError):
        pass  # the server was killed: what was acknowledged is in sender.acked


async def kill_under_load(port: int, db: Path, log: Path, senders: list[Sender]) -> None:
    """Start the server, load it with `senders`, SIGKILL it once enough acks came back."""
    server = await start_server(port, db, log)
    try:
        acks_send, acks_receive = trio.open_memory_channel[int](MAX_PER_SENDER * len(senders))
        async with trio.open_nursery() as nursery:
            for sender in senders:
                nursery.start_soon(send_until_cut_off, server_url(port), sender, acks_send)
            for _ in range(KILL_AFTER_ACKS):
                await acks_receive.receive()
            # Right after an ack: the commits of later messages are in progress.
            server.send_signal(signal.SIGKILL)
            await server.wait()
        assert server.returncode == -signal.SIGKILL
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


def server_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"


def stored_rows(db: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT m.id, m.message, c.name FROM messages m JOIN channels c ON c.id = m.channel_id"
            " ORDER BY m.id"
        ).fetchall()


async def read_history_over_the_wire(url: str, sender: Sender) -> tuple[dict[str, Any], list[Any]]:
    """(session, every message of `general`) as a client restoring its session sees them."""
    async with open_websocket_url(url) as ws:
        client = await SocketIO.connect(ws, {"sessionId": sender.session["sessionId"]})
        session = (await client.event("session"))[0]
        channels = (await client.event("channels"))[0]
        general = next(c["messages"] for c in channels if c["name"] == "general")
        history = list(general)
        while True:
            page = await client.call(
                "channel:history", "general", {"before": history[0]["id"], "limit": 100}
            )
            assert page["ok"] is True, page
            if not page["messages"]:
                break
            history = page["messages"] + history
        return session, history


async def test_acknowledged_messages_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    log = tmp_path / "server.log"
    port = free_port()
    senders: list[Sender] = []
    with trio.fail_after(TEST_TIMEOUT):
        # Several kills: each is one chance to catch a message acknowledged too early.
        for kill in range(KILLS):
            these = [Sender(f"k{kill}s{n}") for n in range(SENDERS)]
            await kill_under_load(port, db, log, these)
            senders += these

        acked = [item for sender in senders for item in sender.acked]
        assert len(acked) >= KILLS * KILL_AFTER_ACKS
        rows = stored_rows(db)
        ids = [row[0] for row in rows]
        texts = [row[1] for row in rows]
        # Exactly once, and no holes: commits land in the order ids were given out.
        assert len(set(texts)) == len(texts)
        assert ids == list(range(1, len(ids) + 1))
        stored = {text: mid for mid, text, _ in rows}
        for sender in senders:
            # Every acknowledged message, under the id its ack gave, in send order.
            lost = [(mid, text) for mid, text in sender.acked if stored.get(text) != mid]
            assert lost == [], f"acknowledged but not stored as acknowledged: {lost}"
            mine = [int(text.rsplit("-", 1)[1]) for text in texts if text.startswith(sender.name)]
            assert mine == list(range(len(mine)))
            assert len(mine) >= len(sender.acked)
        # Messages in flight at a kill but never acknowledged may or may not be there;
        # the window bounds how many.
        assert len(rows) - len(acked) <= KILLS * SENDERS * WINDOW

        server = await start_server(port, db, log)
        try:
            session, history = await read_history_over_the_wire(server_url(port), senders[0])
        finally:
            server.send_signal(signal.SIGTERM)
            with trio.move_on_after(5):
                await server.wait()
            if server.returncode is None:
                server.kill()
                await server.wait()
        assert session["userId"] == senders[0].session["userId"]
        assert [(m["id"], m["message"]) for m in history] == [(mid, text) for mid, text, _ in rows]
