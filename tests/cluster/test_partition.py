"""Hosts, not processes: three simulated hosts (network namespaces on one switch), Redis on
one, a chat node on each of the other two, each node's users connected on its own host.

Cutting a node's host off the network is a partition as a data centre sees one: the node
keeps its clients but loses Redis. Its users must go offline for everyone else within the
node timeout, its own sends must be refused (not hang); once the network mends, the node
must notice it was presumed dead, repair its presence (its users come back online for the
others) and deliver again. A send refused during the cut must stay refused: its bytes, left
in the node's TCP send buffer, reach Redis when the link mends, and must write nothing.
"""

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from benchkit.processes import ROOT, server_args
from benchkit.redis import DURABLE
from tests.support.netns import Host, virtual_hosts
from tests.support.remotechat import remote_chat

pytestmark = pytest.mark.slow

NODE_PORT = 8181
REDIS_PORT = 6390
NODE_TIMEOUT = 3.0
# Failover must happen within the node timeout plus the heartbeat and reap periods: this is
# generous on a loaded machine, and only reached on failure.
FAILOVER_BOUND = NODE_TIMEOUT + 10.0


@asynccontextmanager
async def redis_on(host: Host) -> AsyncIterator[str]:
    process = await trio.lowlevel.open_process(
        host.command(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "0.0.0.0",
             "--protected-mode", "no", "--save", "", "--dir", "/tmp", *DURABLE,
             "--appendfilename", f"{host.namespace}.aof"]
        ),
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"redis://{host.address}:{REDIS_PORT}/0"
    finally:
        process.kill()
        await process.wait()


@asynccontextmanager
async def node_on(host: Host, redis_url: str, log: Path) -> AsyncIterator[str]:
    """A chat node on ``host`` serving on all its addresses, logging to ``log``; yields the
    URL its own clients use (127.0.0.1 on that host)."""
    command = server_args(
        NODE_PORT,
        "--host", "0.0.0.0",
        "--redis-url", redis_url,
        "--node-timeout", str(NODE_TIMEOUT),
        "--presence-grace", "0",
        "--log-level", "info",
    )  # fmt: skip
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            host.command(command), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{NODE_PORT}"
    try:
        # The test's own namespace cannot reach the host's 127.0.0.1: ask from the host.
        ready = (
            "import sys; from benchkit.processes import wait_ready as w; w(sys.argv[1], None, 30)"
        )
        await trio.run_process(host.command([sys.executable, "-c", ready, url]), cwd=ROOT)
        yield url
    finally:
        process.kill()
        await process.wait()


async def sent_to_redis(host: Host, redis: Host) -> None:
    """Until every byte the node on ``host`` had queued for Redis (on any connection, the
    abandoned ones included) has reached Redis: from then on, Redis has read what was sent
    during a cut, and ran it before anything sent later."""

    async def unsent() -> list[str]:
        found = await trio.run_process(
            host.command(["ss", "-Htn", "dst", f"{redis.address}:{REDIS_PORT}"]),
            capture_stdout=True,
        )
        # Columns: state, Recv-Q, Send-Q, local address, peer address.
        return [line for line in found.stdout.decode().splitlines() if line.split()[2] != "0"]

    with trio.fail_after(FAILOVER_BOUND):
        while await unsent():  # noqa: ASYNC110 - the kernel has no event for this
            await trio.sleep(0.05)


async def test_a_partitioned_node_fails_over_and_repairs(tmp_path: Path) -> None:
    async with (
        virtual_hosts(3) as (first, second, data),
        redis_on(data) as redis_url,
        node_on(first, redis_url, tmp_path / "first.log") as first_url,
        node_on(second, redis_url, tmp_path / "second.log") as second_url,
        remote_chat(first.command([]), first_url, {"username": "ada"}, "ada") as ada,
        remote_chat(second.command([]), second_url, {"username": "bob"}, "bob") as bob,
    ):
        bob_id = bob.received("session")[0][0]["userId"]
        await ada.wait_for("user:join", lambda user, *_: user["userId"] == bob_id)
        ack = await bob.send("general", "before the cut")
        assert ack["ok"] is True
        await ada.wait_for("message:channel", lambda _, m, *__: m["id"] == ack["id"])

        await second.cut()
        with trio.fail_after(FAILOVER_BOUND):
            await ada.wait_for("user:disconnect", lambda user, *_: user["userId"] == bob_id)
        refused = await bob.send("general", "during the cut")
        assert refused["ok"] is False
        assert refused["error"]

        await second.mend()
        with trio.fail_after(FAILOVER_BOUND):
            await ada.wait_for("user:connect", lambda user, *_: user["userId"] == bob_id)
        await sent_to_redis(second, data)
        ack = await bob.send("general", "after the cut")
        assert ack["ok"] is True
        await ada.wait_for("message:channel", lambda _, m, *__: m["id"] == ack["id"])
        # Bob's own client never lost its connection, and saw ada throughout.
        assert "disconnect" not in bob.names()
        # The refused message reached Redis before the later one, and was not applied: no
        # one was shown it, and it is not in the history a newcomer gets.
        expected = ["before the cut", "after the cut"]
        for client in (ada, bob):
            shown = [args[1]["message"] for args in client.received("message:channel")]
            assert shown == expected, client.name
        async with remote_chat(first.command([]), first_url, {"username": "cy"}, "cy") as cy:
            channels = cy.received("channels")[0][0]
            (general,) = [c for c in channels if c["name"] == "general"]
            assert [m["message"] for m in general["messages"]] == expected
