"""hypercorn's trio worker accepts several waiting connections per wake-up
(``minidiscord.hypercorn_accepting``), as the native front end does.

Real listening sockets and real client connections, which the kernel completes and queues
before anything is accepted. Which step of the accepting task an accept returned in (a step
runs from one trip through the scheduler to the next) is told by a trio instrument.
"""

import socket

import pytest
import trio
import trio.testing
from hypercorn.trio import run as hypercorn_run

from minidiscord import hostfixes
from minidiscord.frontend.accepting import ACCEPT_BATCH
from minidiscord.frontend.listening import open_listening_sockets
from minidiscord.hypercorn_accepting import BatchedSocketListener
from tests.frontend.test_accepting import connect_clients


class Steps(trio.abc.Instrument):
    """Counts the steps of one task."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.count += 1


async def test_up_to_a_batch_of_waiting_connections_per_trip_through_the_scheduler() -> None:
    (listening,) = open_listening_sockets("127.0.0.1", 0)
    clients = connect_clients(listening.getsockname()[1], 3 * ACCEPT_BATCH)
    listener = BatchedSocketListener(trio.socket.from_stdlib_socket(listening))
    steps = Steps(trio.lowlevel.current_task())
    trio.lowlevel.add_instrument(steps)
    accepted_in: list[int] = []
    streams: list[trio.SocketStream] = []
    try:
        with trio.fail_after(10):
            for _ in clients:
                streams.append(await listener.accept())
                accepted_in.append(steps.count)
        # Each is a working connection to its client.
        for stream, client in zip(streams, clients, strict=True):
            client.sendall(b"hello")
            assert await stream.receive_some(5) == b"hello"
    finally:
        trio.lowlevel.remove_instrument(steps)
        for stream in streams:
            await stream.aclose()
        await listener.aclose()
        for client in clients:
            client.close()
    per_step = [accepted_in.count(step) for step in sorted(set(accepted_in))]
    # trio's own listener goes through the scheduler after each: one per step.
    assert max(per_step) == ACCEPT_BATCH
    assert len(per_step) <= len(clients) // ACCEPT_BATCH + 1


async def test_with_nothing_waiting_it_waits_for_the_next_connection() -> None:
    (listening,) = open_listening_sockets("127.0.0.1", 0)
    listener = BatchedSocketListener(trio.socket.from_stdlib_socket(listening))
    accepted: list[trio.SocketStream] = []
    client: socket.socket | None = None
    try:
        async with trio.open_nursery() as nursery:

            async def accept() -> None:
                accepted.append(await listener.accept())

            nursery.start_soon(accept)
            await trio.testing.wait_all_tasks_blocked()
            assert not accepted
            client = socket.create_connection(listening.getsockname()[:2])
        assert len(accepted) == 1
    finally:
        for stream in accepted:
            await stream.aclose()
        await listener.aclose()
        if client is not None:
            client.close()


async def test_a_closed_listener_refuses_as_trios_does() -> None:
    (listening,) = open_listening_sockets("127.0.0.1", 0)
    port = listening.getsockname()[1]
    listener = BatchedSocketListener(trio.socket.from_stdlib_socket(listening))
    await listener.aclose()
    # Closing it closed the listening socket itself: nothing listens on the port any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()


def test_hypercorns_worker_makes_its_listeners_batched() -> None:
    hostfixes.install()
    worker_trio = hypercorn_run.trio  # type: ignore[attr-defined]
    assert worker_trio.SocketListener is BatchedSocketListener
    # Everything else it uses is trio's own.
    assert worker_trio.serve_listeners is trio.serve_listeners
    assert worker_trio.SSLListener is trio.SSLListener
