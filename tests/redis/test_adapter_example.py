"""docs/examples/redis_cluster.py, the README's cluster program, does what it says: two
copies on one Redis (in this process, and as the README runs them, as programs), a trio
client on each, who reach one another through rooms, fetch_sockets and server-side emits."""

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from benchkit.processes import ROOT, free_port
from docs.examples.redis_cluster import make_server
from minidiscord.client import Client
from minidiscord.sockets import SocketServer
from tests.support.processes import until_ready
from tests.support.redisserver import RedisServer
from tests.support.servers import serve_any_app
from tests.support.waiting import wait_until

PROBE = "/socket.io/?EIO=4&transport=polling"


def test_the_readme_shows_the_program() -> None:
    example = (ROOT / "docs" / "examples" / "redis_cluster.py").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example}```" in readme


async def scenario(first: str, second: str, names: tuple[str, str]) -> None:
    """Ann on the first server and Bob on the second meet in the lobby."""
    heard: list[tuple[str, tuple[Any, ...]]] = []
    ann = Client(transports=("websocket",), auth={"name": "ann"})
    bob = Client(transports=("websocket",), auth={"name": "bob"})
    ann.on_any(lambda event, *args: heard.append((event, args)))
    async with (
        ann.connect(first) as on_first,
        bob.connect(second) as on_second,
    ):
        assert await on_first.call("join", "lobby", timeout=5) == [f"joined lobby on {names[0]}"]
        assert await on_second.call("join", "lobby", timeout=5) == [f"joined lobby on {names[1]}"]
        await wait_until(lambda: len(heard) == 1)
        on_second.emit("say", "lobby", "hello from the other process")
        await wait_until(lambda: len(heard) == 2)
        assert [(event, args[:2]) for event, args in heard] == [
            ("joined", ("bob", names[1])),
            ("said", ("bob", "hello from the other process")),
        ]
        assert await on_first.call("who", "lobby", timeout=10) == [["ann", "bob"]]
        assert await on_second.call("servers", timeout=10) == [sorted(names)]


async def test_two_copies_in_process(redis: RedisServer, nursery: trio.Nursery) -> None:
    first = await serve_any_app(nursery, make_server(redis.url, "first"))
    second = await serve_any_app(nursery, make_server(redis.url, "second"))
    assert isinstance(first.app, SocketServer)
    adapter = first.app.of("/").adapter
    with trio.fail_after(5):
        while await adapter.server_count() < 2:  # noqa: ASYNC110 - a Redis query, no event
            await trio.sleep(0.05)
    await scenario(first.url, second.url, ("first", "second"))


@asynccontextmanager
async def program(port: int, redis_url: str, log: Path) -> AsyncIterator[trio.Process]:
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            [
                sys.executable, "-m", "docs.examples.redis_cluster",
                "--port", str(port), "--redis-url", redis_url,
            ],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        await until_ready(process, f"http://127.0.0.1:{port}", 30, PROBE)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


@pytest.mark.slow
async def test_two_copies_as_programs(redis: RedisServer, tmp_path: Path) -> None:
    ports = free_port(), free_port()
    names = (f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}")
    async with (
        program(ports[0], redis.url, tmp_path / "first.log") as first,
        program(ports[1], redis.url, tmp_path / "second.log") as second,
    ):
        with trio.fail_after(30):
            await scenario(f"http://{names[0]}", f"http://{names[1]}", names)
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                assert await process.wait() == 0
