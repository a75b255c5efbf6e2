"""The chat itself from ``minidiscord --workers 2 --redis-url ...``: each worker is a node of
one chat on Redis; polling sessions are spread over the workers and each is served by its
own, users on different workers chat and see each other come and go, SIGTERM drains.
"""

import signal
from pathlib import Path

import pytest
import trio

from benchkit.processes import free_port
from tests.support.chatclient import ChatClient
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer
from tests.support.workers import sid_worker

pytestmark = pytest.mark.slow


async def test_the_chat_serves_from_two_workers_and_drains_on_sigterm(
    redis: RedisServer, tmp_path: Path, nursery: trio.Nursery
) -> None:
    port, log = free_port(), tmp_path / "chat.log"
    options = [
        *("--workers", "2", "--redis-url", redis.url, "--frontend", "native"),
        *("--shutdown-timeout", "2"),
    ]
    async with cli_server(port, *options, log=log) as server:
        # New sessions go round robin: consecutive users land on different workers.
        users = [ChatClient(server.url, f"user{index}", nursery=nursery) for index in range(4)]
        for index, user in enumerate(users):
            await user.connect({"username": f"user{index}"}, transports=["polling"])
        workers = [sid_worker(user.sio.engine_sid or "") for user in users]
        assert set(workers) == {"0", "1"}
        first = users[0]
        other = next(
            user for user, worker in zip(users, workers, strict=True) if worker != workers[0]
        )
        # One chat: a user of the other worker is announced and heard.
        other_id = other.session["userId"]
        await first.wait_for("user:join", lambda user, *_: user["userId"] == other_id)
        ack = await other.send("general", "from the other worker")
        assert ack["ok"] is True
        (_, message, *_) = await first.wait_for(
            "message:channel", lambda _, m, *__: m["id"] == ack["id"]
        )
        assert message["message"] == "from the other worker"
        await other.disconnect()
        await first.wait_for("user:disconnect", lambda user, *_: user["userId"] == other_id)
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await server.process.wait() == 0
    text = log.read_text()
    assert f"serving on http://127.0.0.1:{port} with 2 workers" in text
    assert "worker 0: SIGTERM: shutting down" in text
    assert "worker 1: SIGTERM: shutting down" in text
    assert "Traceback" not in text


async def test_the_parent_caps_the_connections_one_address_leaves_idle(
    redis: RedisServer, tmp_path: Path
) -> None:
    # Connections that send nothing stay in the parent (it routes by the first request):
    # it counts them per address, as a single server does at accept.
    port, log = free_port(), tmp_path / "chat.log"
    options = [
        *("--workers", "2", "--redis-url", redis.url, "--frontend", "native"),
        *("--store", "memory", "--ip-max-connections", "2"),
        # Loopback is a trusted proxy by default, exempt from the per-address cap.
        *("--forwarded-allow-ips", "10.9.9.9"),
    ]
    async with cli_server(port, *options, log=log):
        idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        third = await trio.open_tcp_stream("127.0.0.1", port)
        await third.send_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with trio.fail_after(10):
            answer = await third.receive_some(65536)
            refused = [answer] if answer.startswith(b"HTTP/1.1 429") else []
            if not refused:
                # The parent took the third before the other two (its tasks start in any
                # order): one of those, idle, is the one over the cap.
                assert answer.startswith(b"HTTP/1.1 200"), answer
                async with trio.open_nursery() as nursery:

                    async def read(stream: trio.SocketStream) -> None:
                        refused.append(await stream.receive_some(65536))
                        nursery.cancel_scope.cancel()

                    for stream in idle:
                        nursery.start_soon(read, stream)
        assert len(refused) == 1
        assert refused[0].startswith(b"HTTP/1.1 429"), refused
        assert b"too many connections from your address" in refused[0]
        for stream in [*idle, third]:
            await stream.aclose()
