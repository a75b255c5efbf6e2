"""A chat of two node processes on one Redis, under load, while Redis itself crashes:
nothing acknowledged is lost, and every client sees every message once, in id order,
whichever node it and the sender are on. (Nodes crashing: test_node_crash.py.)

Senders on both nodes pipeline acknowledged messages; one watcher per node records what
it receives. Mid-stream, redis-server is SIGKILLed and restarted on its AOF; later it is
frozen (SIGSTOP) for longer than a send's bound, and thawed. Sends meanwhile must be
answered {ok: false} in time, never hang. After both, every acknowledged message is in the
history once, under the id its ack gave, and the ids each watcher saw increase with no
repeat and no gap in what was stored while it watched.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from benchkit.processes import free_port
from minidiscord.client import CallTimeout, Client, ConnectError, Disconnected
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer

pytestmark = pytest.mark.slow

SENDERS_PER_NODE = 3
WINDOW = 8  # unacknowledged messages each sender keeps in flight
ACKS_PER_ROUND = 150
SEND_TIMEOUT = 10.0  # an ack (ok or not) must come within this: nothing may hang
TEST_TIMEOUT = 120.0
CHANNEL = "general"


@dataclass
class Ledger:
    """What the senders were told: acknowledged (id, text), and refused texts."""

    acked: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    acks: int = 0
    changed: trio.Event = field(default_factory=trio.Event)

    def ack(self, text: str, reply: Any) -> None:
        if isinstance(reply, dict) and reply.get("ok") is True:
            self.acked[text] = reply["id"]
            self.acks += 1
        else:
            assert isinstance(reply, dict), reply
            assert reply.get("ok") is False, reply
            assert isinstance(reply.get("error"), str), reply
            self.refused.append(text)
        self.changed.set()
        self.changed = trio.Event()

    async def wait_acks(self, count: int) -> None:
        target = self.acks + count
        while self.acks < target:
            await self.changed.wait()


@dataclass
class Watcher:
    """A client that stays on one node and records the ids it is sent, in order."""

    name: str
    ids: list[int] = field(default_factory=list)
    client: Client | None = None


async def send_until_stopped(url: str, name: str, ledger: Ledger, stop: trio.Event) -> None:
    """Pipeline messages with acks until ``stop`` or until this node goes away."""
    client = Client(transports=("websocket",), reconnection=False, auth={"username": name})
    window = trio.Semaphore(WINDOW)

    async def one(text: str) -> None:
        try:
            with trio.fail_after(SEND_TIMEOUT):
                (reply,) = await client.call("message:channel:send", CHANNEL, text)
            ledger.ack(text, reply)
        except (Disconnected, CallTimeout):
            pass  # the node went away: the message may or may not be stored
        finally:
            window.release()

    try:
        async with client.connect(url), trio.open_nursery() as nursery:
            for seq in range(100_000):
                if stop.is_set() or not client.connected:
                    break
                await window.acquire()
                nursery.start_soon(one, f"{name}-{seq}")
    except* (ConnectError, Disconnected, OSError):
        pass


async def watch(url: str, watcher: Watcher, task_status: trio.TaskStatus[None]) -> None:
    client = Client(transports=("websocket",), reconnection=False, auth={"username": watcher.name})
    greeted = trio.Event()

    def record(event: str, *args: Any) -> None:
        if event == "message:channel" and args[0] == CHANNEL:
            watcher.ids.append(args[1]["id"])
        elif event == "users":
            greeted.set()

    client.on_any(record)
    async with client.connect(url):
        await greeted.wait()
        watcher.client = client
        task_status.started()
        await client.wait_closed()


async def stored_history(url: str) -> list[dict[str, Any]]:
    """Every message of the channel, oldest first, paged through channel:history."""
    client = Client(transports=("websocket",), reconnection=False, auth={"username": "reader"})
    async with client.connect(url):
        history: list[dict[str, Any]] = []
        before: int | None = None
        while True:
            options: dict[str, Any] = {"limit": 100}
            if before is not None:
                options["before"] = before
            (page,) = await client.call("channel:history", CHANNEL, options, timeout=10)
            assert page["ok"] is True, page
            if not page["messages"]:
                return history
            history = page["messages"] + history
            before = page["messages"][0]["id"]


async def load_round(
    urls: list[str], ledger: Ledger, prefix: str, disaster: Callable[[], Awaitable[None]]
) -> None:
    """Senders on every node; ``disaster`` strikes after a round's worth of acks."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for node_index, url in enumerate(urls):
            for n in range(SENDERS_PER_NODE):
                name = f"{prefix}n{node_index}s{n}"
                nursery.start_soon(send_until_stopped, url, name, ledger, stop)
        await ledger.wait_acks(ACKS_PER_ROUND)
        await disaster()
        await ledger.wait_acks(ACKS_PER_ROUND // 3)
        stop.set()


def check_watcher(watcher: Watcher, stored_ids: list[int]) -> None:
    """Once each, in id order, and nothing stored while it watched was skipped."""
    ids = watcher.ids
    assert ids, f"{watcher.name} saw nothing"
    assert ids == sorted(set(ids)), f"{watcher.name}: repeated or out of order"
    window = [i for i in stored_ids if ids[0] <= i <= ids[-1]]
    assert ids == window, f"{watcher.name} missed {sorted(set(window) - set(ids))[:20]}"


@asynccontextmanager
async def two_nodes(redis: RedisServer, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two node processes on ``redis``; yields their URLs."""
    ports = [free_port(), free_port()]
    options = ("--redis-url", redis.url, "--log-level", "info")
    async with (
        cli_server(ports[0], *options, log=tmp_path / "node0.log"),
        cli_server(ports[1], *options, log=tmp_path / "node1.log"),
    ):
        yield [f"http://127.0.0.1:{port}" for port in ports]


async def test_redis_killed_then_frozen_under_load_loses_and_doubles_nothing(
    redis: RedisServer, tmp_path: Path
) -> None:
    ledger = Ledger()
    with trio.fail_after(TEST_TIMEOUT):
        async with two_nodes(redis, tmp_path) as urls, trio.open_nursery() as watchers:
            pair = [Watcher("watchA"), Watcher("watchB")]
            for url, watcher in zip(urls, pair, strict=True):
                await watchers.start(watch, url, watcher)

            async def restart_redis() -> None:
                await redis.kill()
                await trio.sleep(1.0)  # sends meanwhile are refused, within the bound
                await redis.start()

            async def freeze_redis() -> None:
                redis.freeze()
                await trio.sleep(3.0)  # longer than a send's bound: they must be refused
                redis.thaw()

            await load_round(urls, ledger, "r", restart_redis)
            await load_round(urls, ledger, "f", freeze_redis)
            stored = await stored_history(urls[0])
            watchers.cancel_scope.cancel()

    stored_ids = [m["id"] for m in stored]
    texts = [m["message"] for m in stored]
    assert stored_ids == sorted(set(stored_ids)), "history repeated or out of order"
    assert len(set(texts)) == len(texts), "a message was stored twice"
    by_text = dict(zip(texts, stored_ids, strict=True))
    lost = {t: i for t, i in ledger.acked.items() if by_text.get(t) != i}
    assert lost == {}, f"acknowledged but not stored as acknowledged: {list(lost.items())[:10]}"
    assert ledger.refused, "Redis was down a while: some sends should have been refused"
    for watcher in pair:
        check_watcher(watcher, stored_ids)
