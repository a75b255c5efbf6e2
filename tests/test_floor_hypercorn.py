"""scripts/floor_hypercorn.py: the floor delivers as our server does (rounds of direct
writes, a writer for the rest, the slow-consumer rule) on both front ends, and serves the
load generator with counts it can check."""

import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import trio

from benchkit.processes import HANDSHAKE, free_port, running, script_args
from benchkit.wire import LeanWebSocket, event_packet, parse_ack
from scripts.floor_hypercorn import LIMITS, Floor, serve
from tests.test_loadtest import check_counted_by_the_server, check_report, run_loadtest

FRONT_ENDS = ("native", "hypercorn")


@asynccontextmanager
async def serving(frontend: str) -> AsyncIterator[tuple[Floor, int]]:
    """A floor in this process on ``frontend``, and its port."""
    floor = Floor()
    port = free_port()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(floor.run, lambda: serve(floor, port, frontend == "native"))
        with trio.fail_after(10):
            while True:
                try:
                    probe = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.02)
                    continue
                await probe.aclose()
                break
        yield floor, port
        nursery.cancel_scope.cancel()


async def member(port: int, name: str) -> tuple[LeanWebSocket, list[bytes]]:
    """A client past its CONNECT; the frames read after the answer."""
    client = await LeanWebSocket.connect("127.0.0.1", port, "/socket.io/?EIO=4&transport=websocket")
    (opened,) = await client.receive_frames()
    assert opened.startswith(b"0{")
    await client.send_text(f'40{{"username":"{name}"}}')
    frames = await client.receive_frames()
    assert frames[0].startswith(b'40{"sid":"floor')
    return client, frames[1:]


@pytest.mark.parametrize("frontend", FRONT_ENDS)
async def test_a_broadcast_goes_out_in_rounds_and_a_client_that_stops_reading_is_dropped(
    frontend: str,
) -> None:
    async with serving(frontend) as (floor, port):
        sender, _ = await member(port, "sender")
        stalled, _ = await member(port, "stalled")
        assert len(floor.members) == 2
        # Small messages while both read: each round writes them to the idle clients.
        for number in range(3):
            await sender.send_text(
                event_packet("message:channel:send", ("general", f"hi {number}"), number)
            )
        got: list[bytes] = []
        with trio.fail_after(10):
            while len([f for f in got if f.startswith(b'42["message:channel"')]) < 3:
                got += await stalled.receive_frames()
        texts = [f for f in got if f.startswith(b'42["message:channel"')]
        assert [b"hi %d" % n in f for n, f in enumerate(texts)] == [True] * 3
        assert floor.writes.rounds > 0
        # Now "stalled" reads nothing: more than its outbox's byte bound (and the kernel's
        # buffers) is sent, and it is dropped while the sender, which reads, stays.
        body = "x" * 200_000
        count = 3 * LIMITS.client_buffer_bytes // len(body) + 60
        acks: list[int] = []

        async def read_sender() -> None:
            while len(acks) < count:
                for frame in await sender.receive_frames():
                    ack = parse_ack(frame)
                    if ack is not None and ack[0] >= 3:
                        acks.append(ack[0])

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_sender)
                for number in range(3, 3 + count):
                    await sender.send_text(
                        event_packet("message:channel:send", ("general", body), number)
                    )
        assert acks == list(range(3, 3 + count))
        assert len(floor.members) == 1
        await sender.aclose()
        await stalled.aclose()


@pytest.fixture(params=FRONT_ENDS)
def floor_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """scripts/floor_hypercorn.py in a subprocess, on each front end."""
    port = free_port()
    native = ("--native",) if request.param == "native" else ()
    command = script_args("floor_hypercorn", "--port", str(port), "--tuned-gc", *native)
    with running(command, port, probe=HANDSHAKE, stdout=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
async def test_the_floor_serves_the_load_generator_and_counts_what_it_sent(floor_url: str) -> None:
    report = await run_loadtest(
        floor_url, *("-c", "40", "-s", "4", "-r", "20", "-d", "1", "--drain", "20")
    )
    check_report(report, clients=40, procs=1)
    [result] = report["phases"]
    check_counted_by_the_server(result)
    # Written in rounds of direct writes, at most one write per client a round.
    assert 0 < result["server_rounds"] <= result["server_round_writes"] <= result["packets"]
