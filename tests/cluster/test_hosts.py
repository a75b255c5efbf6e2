"""The simulated hosts and the remote chat client the multi-host tests stand on: what they
prove holds only if a partition really cuts a host off and a remote client really reads."""

import subprocess

import trio

from tests.support.netns import virtual_hosts
from tests.support.remotechat import remote_chat
from tests.support.servers import RunningServer


async def _redis_ping(command: list[str]) -> bool:
    result = await trio.run_process(
        command, capture_stdout=True, stderr=subprocess.DEVNULL, check=False
    )
    return result.returncode == 0 and result.stdout.strip() == b"PONG"


async def _until_pong(command: list[str]) -> None:
    with trio.fail_after(10):
        # Nothing announces that a network path opened: polled, bounded.
        while not await _redis_ping(command):  # noqa: ASYNC110
            await trio.sleep(0.05)


async def test_a_cut_host_reaches_no_other_host_until_mended() -> None:
    async with virtual_hosts(2) as (first, second):
        server = await trio.lowlevel.open_process(
            second.command(
                ["redis-server", "--port", "16400", "--bind", "0.0.0.0", "--save", "",
                 "--protected-mode", "no"]
            ),
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            ping = first.command(
                ["timeout", "2", "redis-cli", "-h", second.address, "-p", "16400", "ping"]
            )
            await _until_pong(ping)
            await first.cut()
            assert not await _redis_ping(ping)
            # Its own services still answer on the host itself.
            assert await _redis_ping(
                second.command(["redis-cli", "-h", "127.0.0.1", "-p", "16400", "ping"])
            )
            await first.mend()
            await _until_pong(ping)
        finally:
            server.kill()
            await server.wait()


async def test_a_remote_chat_client_reads_and_sends(server: RunningServer) -> None:
    async with (
        remote_chat([], server.url, {"username": "ada"}, "ada") as ada,
        remote_chat([], server.url, {"username": "bob"}, "bob") as bob,
    ):
        ack = await ada.send("general", "hello from a process")
        assert ack["ok"] is True
        (channel, message) = await bob.wait_for("message:channel")
        assert channel == "general"
        assert message["message"] == "hello from a process"
        assert (await ada.wait_for("message:channel"))[1]["id"] == ack["id"]
