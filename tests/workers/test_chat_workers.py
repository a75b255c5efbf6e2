"""The chat itself from ``minidiscord --workers 2``: each worker runs the chat from the
command's own arguments, sessions are spread and served by their worker, SIGTERM drains.

Until the chat's cluster mode (``--redis-url``) is merged, each worker here keeps its own
memory store: this checks the command's serving and stopping, not shared chat state.
"""

import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from benchkit.processes import free_port
from minidiscord.client import Client
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer
from tests.support.workers import sid_worker

pytestmark = pytest.mark.slow


async def test_the_chat_serves_from_two_workers_and_drains_on_sigterm(
    redis: RedisServer, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "chat.log"
    options = [
        *("--workers", "2", "--redis-url", redis.url, "--frontend", "native"),
        *("--store", "memory", "--shutdown-timeout", "2"),
    ]
    async with cli_server(port, *options, log=log) as server:
        workers: set[str] = set()
        for index in range(4):
            signed_in = trio.Event()
            client = Client(
                auth={"username": f"user{index}"}, transports=("polling",), reconnection=False
            )

            def session(*args: Any, signed_in: trio.Event = signed_in) -> None:
                signed_in.set()

            client.on("session", session)
            async with client.connect(server.url):
                with trio.fail_after(10):
                    await signed_in.wait()
                sid = client.engine_sid
                assert sid is not None
                workers.add(sid_worker(sid))
        assert workers == {"0", "1"}
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await server.process.wait() == 0
    text = log.read_text()
    assert f"serving on http://127.0.0.1:{port} with 2 workers" in text
    assert "worker 0: SIGTERM: shutting down" in text
    assert "worker 1: SIGTERM: shutting down" in text
    assert "Traceback" not in text
