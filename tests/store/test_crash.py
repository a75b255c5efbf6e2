"""SIGKILL under load loses nothing acknowledged: a real server process, the trio chat client.

Senders pipeline acknowledged ``message:channel:send`` events (``WINDOW`` calls in flight
each) as fast as the server answers;
the server is killed mid-stream and restarted on the same database. Every acknowledged
message must then be there, with the id its ack gave, in order, exactly once; and since
grouped commits land in call order, the stored ids have no holes.
"""

import signal
import sqlite3
from contextlib import AbstractAsyncContextManager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from benchkit.processes import free_port
from minidiscord.client import ConnectError, Disconnected
from tests.support.chatclient import joined
from tests.support.processes import CliServer, cli_server

pytestmark = pytest.mark.slow

SENDERS = 8
WINDOW = 16  # unacknowledged messages each sender keeps in flight
KILL_AFTER_ACKS = 300
KILLS = 5
MAX_PER_SENDER = 5000  # bounds the load should the kill never come
SERVER_START_TIMEOUT = 10.0
TEST_TIMEOUT = 40.0  # seconds; normally done in a few


def sqlite_server(port: int, db: Path, log: Path) -> AbstractAsyncContextManager[CliServer]:
    # The limits stay off (cli_server's default): these clients send far faster than people.
    options = ("--store", "sqlite", "--db", str(db), "--log-level", "warning")
    return cli_server(port, *options, log=log, timeout=SERVER_START_TIMEOUT)


@dataclass
class Sender:
    name: str
    acked: list[tuple[int, str]] = field(default_factory=list)  # (id, text) as acks came
    session: dict[str, Any] = field(default_factory=dict)


async def send_until_cut_off(url: str, sender: Sender, acks: trio.MemorySendChannel[int]) -> None:
    """Pipeline messages with acks until the server goes away."""
    numbers = iter(range(MAX_PER_SENDER))

    async def one_in_flight() -> None:
        # Each task takes the next number and emits at once (no checkpoint in between), so
        # the messages go out in number order whichever task sends them.
        for seq in numbers:
            text = f"{sender.name}-{seq}"
            reply = await client.send("general", text)
            assert reply["ok"] is True, reply
            sender.acked.append((reply["id"], text))
            acks.send_nowait(1)

    try:
        async with joined(url, {"username": sender.name}, sender.name) as client:
            sender.session = client.session
            async with trio.open_nursery() as nursery:
                for _ in range(WINDOW):
                    nursery.start_soon(one_in_flight)
    except* (Disconnected, ConnectError):
        pass  # the server was killed: what was acknowledged is in sender.acked


async def kill_under_load(port: int, db: Path, log: Path, senders: list[Sender]) -> None:
    """Start the server, load it with `senders`, SIGKILL it once enough acks came back."""
    async with sqlite_server(port, db, log) as server:
        acks_send, acks_receive = trio.open_memory_channel[int](MAX_PER_SENDER * len(senders))
        async with trio.open_nursery() as nursery:
            for sender in senders:
                nursery.start_soon(send_until_cut_off, server.url, sender, acks_send)
            for _ in range(KILL_AFTER_ACKS):
                await acks_receive.receive()
            # Right after an ack: the commits of later messages are in progress.
            server.process.send_signal(signal.SIGKILL)
            await server.process.wait()
    assert server.process.returncode == -signal.SIGKILL


def stored_rows(db: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT m.id, m.message, c.name FROM messages m JOIN channels c ON c.id = m.channel_id"
            " ORDER BY m.id"
        ).fetchall()


async def read_history_over_the_wire(url: str, sender: Sender) -> tuple[dict[str, Any], list[Any]]:
    """(session, every message of `general`) as a client restoring its session sees them."""
    async with joined(url, {"sessionId": sender.session["sessionId"]}, "reader") as client:
        channels = client.received("channels")[-1][0]
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
        return client.session, history


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

        async with sqlite_server(port, db, log) as server:
            session, history = await read_history_over_the_wire(server.url, senders[0])
        assert session["userId"] == senders[0].session["userId"]
        assert [(m["id"], m["message"]) for m in history] == [(mid, text) for mid, text, _ in rows]
