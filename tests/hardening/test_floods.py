"""Every packet costs its sender: a flood of events nobody handles is told, then cut off,
and the reading of one connection never starves the others."""

import json

import httpx
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from minidiscord.limits import Rate
from tests.support.rawclient import polling_connect, polling_url, raw_websocket, read_until_closed
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until

BUDGET = Rate(burst=50, per_second=10.0)


async def _round_trips(server: RunningServer, rounds: int) -> list[float]:
    """A bystander's chat messages, each waited for: the seconds each took to be acked."""
    took = []
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"username":"bystander"}')
        for number in range(rounds):
            started = trio.current_time()
            await client.send(f'42{number}["message:channel:send","general","hello {number}"]')
            while not (frame := await client.text()).startswith(f"43{number}"):
                pass
            assert '"ok":true' in frame, frame
            took.append(trio.current_time() - started)
    return took


async def test_a_websocket_flood_is_told_then_disconnected(
    start_server: ServerFactory, mock_clock: trio.testing.MockClock
) -> None:
    server = await start_server(client_packet_rate=BUDGET)
    told: list[str] = []
    # The flood runs in stopped time: the budget refills nothing meanwhile, however a
    # loaded machine spaces the flooder's packets (a pause of 0.1 s would refill a packet,
    # and the flooder, back within its budget, would be told a second time).
    async with raw_websocket(server.ws_url) as flooder, trio.open_nursery() as nursery:
        await flooder.send('40{"username":"flooder"}')

        async def flood() -> None:
            try:
                for number in range(100_000):
                    await flooder.send(f'42["nobody handles this",{number}]')
                # Never cut off (no heartbeat in stopped time): ends the wait below.
                await flooder.ws.aclose()
            except ConnectionClosed:
                pass

        nursery.start_soon(flood)
        frames = await read_until_closed(flooder)
        told = [str(f) for f in frames if str(f).startswith('42["rate-limited"')]
        mock_clock.rate = 1.0
        bystander = await _round_trips(server, rounds=10)
    assert len(told) == 1
    notice = json.loads(told[0][2:])[1]
    assert notice["event"] == "*"
    assert notice["retryAfter"] > 0
    assert flooder.sid not in server.app.engine.sessions
    rejected = server.app.metrics.rejected.labels(reason="flooding")._value.get()
    assert rejected == 1
    # A liveness bound, not a benchmark: the bystander was never stuck behind the flood.
    assert max(bystander) < 5.0


async def test_a_client_that_slows_down_when_told_stays(
    start_server: ServerFactory, mock_clock: trio.testing.MockClock
) -> None:
    server = await start_server(client_packet_rate=BUDGET)
    async with raw_websocket(server.ws_url) as client:
        await client.join('{"username":"eager"}')
        # In stopped time: the burst goes over the budget however slowly it is sent.
        for number in range(BUDGET.burst + 5):
            await client.send(f'42["burst",{number}]')
        while not (await client.text()).startswith('42["rate-limited"'):
            pass
        # It waits as told, then goes on within its budget.
        mock_clock.jump(1.0)
        await client.send('420["message:channel:send","general","sorry"]')
        while not (frame := await client.text()).startswith("430"):
            pass
        assert '"ok":true' in frame
        assert client.sid in server.app.engine.sessions


async def test_a_polling_flood_is_cut_off_within_one_post(start_server: ServerFactory) -> None:
    server = await start_server(client_packet_rate=BUDGET)
    async with httpx.AsyncClient(timeout=10) as http:
        sid = await polling_connect(http, server.url)
        # One POST of 1,000 packets: the budget counts each packet, not each request.
        payload = "\x1e".join('42["nobody handles this"]' for _ in range(1000))
        await http.post(polling_url(server.url, sid), content=payload)
        assert sid not in server.app.engine.sessions or server.app.engine.sessions[sid].closed
    rejected = server.app.metrics.rejected.labels(reason="flooding")._value.get()
    assert rejected == 1


async def test_a_flood_within_no_budget_still_does_not_starve_others(
    start_server: ServerFactory,
) -> None:
    # With the budget off, a flooder is never cut off; every packet is still a checkpoint,
    # so the others' packets are read and answered in between.
    server = await start_server(client_packet_rate=None)
    async with raw_websocket(server.ws_url) as flooder, trio.open_nursery() as nursery:
        await flooder.send('40{"username":"flooder"}')

        sent = 0

        async def flood() -> None:
            nonlocal sent
            with trio.move_on_after(20):
                for number in range(200_000):
                    await flooder.send(f'42["nobody handles this",{number}]')
                    sent += 1

        nursery.start_soon(flood)
        await wait_until(lambda: sent >= 1000)  # the flood is under way
        bystander = await _round_trips(server, rounds=10)
        nursery.cancel_scope.cancel()
    assert max(bystander) < 5.0
