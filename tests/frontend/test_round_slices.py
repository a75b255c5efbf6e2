"""A round of direct writes to more clients than a slice lets others run between slices,
on the native front end with real clients: a broadcast made while a round is being written
reaches the clients the round has not written yet in that round, in the same write as what
they already had, and the others in the next round, each client getting both in order."""

import trio

from minidiscord.engine.directwrites import SLICE_WRITES
from tests.frontend.test_direct_send import Client, items, native, room_server, session_of
from tests.support.waiting import wait_until

# Three slices, the last of 8.
CLIENTS = 2 * SLICE_WRITES + 8


async def test_a_broadcast_during_a_round_reaches_its_unwritten_clients_in_that_round() -> None:
    sio = room_server()
    async with native(sio) as (server, port):
        clients = [await Client.connect(port, small_buffer=False) for _ in range(CLIENTS)]
        sessions = [session_of(sio, client) for client in clients]
        await wait_until(lambda: all(session.outbox.awaited for session in sessions))
        context, rounds = server.context, sio.engine.direct_writes
        direct, before = context.direct_writes, rounds.rounds
        sio.to("room").emit("item", 0, "a")
        # This task runs at the round's first checkpoint, or its second (trio runs a
        # scheduler batch's tasks in either order).
        with trio.fail_after(10):
            while rounds.rounds == before:
                await trio.lowlevel.checkpoint()
        at = context.direct_writes - direct
        assert at in (SLICE_WRITES, 2 * SLICE_WRITES)
        sio.to("room").emit("item", 1, "b")
        await wait_until(lambda: all(not session.outbox for session in sessions))
        # Every client written once per round it had frames in: the ones the first round
        # had not reached got both broadcasts in its one write to them.
        assert rounds.rounds == before + 2
        assert context.direct_writes - direct == CLIENTS + at
        for client in clients:
            assert items(await client.read(2)) == [(0, 1), (1, 1)]
