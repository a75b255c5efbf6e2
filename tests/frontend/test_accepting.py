"""Accepting: one wake-up of the listening socket accepts up to ACCEPT_BATCH of the
connections waiting, not one per scheduler pass; a connection gone before it was accepted, or the
process out of descriptors, costs that accept only.

Real listening sockets and real client connections (which the kernel completes and queues
before the server accepts anything). Which scheduler pass a handler started in is told by a
task that counts passes.
"""

import errno
import logging
import math
import socket
from collections.abc import Callable

import pytest
import trio
import trio.testing

from minidiscord.frontend.accepting import ACCEPT_BATCH, Listening, serve_listener
from minidiscord.frontend.listening import open_listening_sockets


class Passes:
    """Counts scheduler passes: a task that checkpoints in a loop runs once per pass."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count += 1
            await trio.lowlevel.checkpoint()


def connect_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` connections the kernel completes and queues for accept (the backlog)."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port))
        clients.append(client)
    return clients


async def accept_all(
    listener: Listening, expected: int, record: Callable[[], object]
) -> list[trio.SocketStream]:
    """Run serve_listener until ``expected`` handlers started, each calling ``record``;
    the streams they got."""
    streams: list[trio.SocketStream] = []
    done = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        record()
        streams.append(stream)
        if len(streams) == expected:
            done.set()
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_listener, listener, handler, nursery)
            await done.wait()
            nursery.cancel_scope.cancel()
    return streams


async def test_one_wake_up_accepts_every_waiting_connection() -> None:
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    clients = connect_clients(listener.getsockname()[1], 40)
    passes = Passes()
    started_in: list[int] = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(passes.run)
            streams = await accept_all(
                listener, len(clients), lambda: started_in.append(passes.count)
            )
            nursery.cancel_scope.cancel()
    finally:
        for client in clients:
            client.close()
        listener.close()
    assert len(streams) == len(clients)
    # A wake-up per ACCEPT_BATCH; trio shuffles each pass's tasks, so a handler sees the
    # pass count from before or after the counter's turn in its pass: at most 2 values per
    # wake-up. trio.serve_listeners starts each in a pass of its own: 40 values.
    wake_ups = math.ceil(len(clients) / ACCEPT_BATCH)
    assert len(set(started_in)) <= 2 * wake_ups < len(clients)


async def test_the_stream_closes_when_its_handler_returns() -> None:
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    client = socket.create_connection(listener.getsockname()[:2])
    client.settimeout(5)
    handled = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        await stream.send_all(b"hello")
        handled.set()

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve_listener, listener, handler, nursery)
                await handled.wait()
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
        # The server closed it: the client reads what was sent, then the end.
        assert client.recv(100) == b"hello"
        assert client.recv(100) == b""
    finally:
        client.close()
        listener.close()


class FailingOnce:
    """A real listening socket whose next accept fails with ``code`` first (a connection
    reset before it was accepted, or the process out of descriptors cannot be arranged on
    demand on loopback)."""

    def __init__(self, sock: socket.socket, code: int) -> None:
        self.sock = sock
        self.code = code
        self.failed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        if not self.failed:
            self.failed = True
            raise OSError(self.code, "simulated")
        return self.sock.accept()


@pytest.mark.parametrize("code", [errno.ECONNABORTED, errno.EMFILE])
async def test_a_failed_accept_costs_that_accept_only(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    clients = connect_clients(listener.getsockname()[1], 3)
    failing = FailingOnce(listener, code)
    try:
        with caplog.at_level(logging.ERROR, logger="minidiscord.frontend"):
            streams = await accept_all(failing, len(clients), lambda: None)
    finally:
        for client in clients:
            client.close()
        listener.close()
    assert failing.failed
    assert len(streams) == len(clients)
    out_of_descriptors = [r for r in caplog.records if "accept failed" in r.getMessage()]
    assert len(out_of_descriptors) == (1 if code == errno.EMFILE else 0)


async def test_an_unexpected_accept_error_is_raised() -> None:
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    clients = connect_clients(listener.getsockname()[1], 1)
    failing = FailingOnce(listener, errno.EINVAL)
    try:
        with pytest.RaisesGroup(OSError, flatten_subgroups=True):
            await accept_all(failing, 1, lambda: None)
    finally:
        for client in clients:
            client.close()
        listener.close()
