"""The pieces of --workers routing, in-process: session ids carrying a worker number, the
request line a route is read from, a connection's descriptor crossing a channel, and a
worker's front end giving back a kept-alive connection whose next request is another's."""

import functools
import socket
from collections.abc import Iterator

import pytest
import trio

from minidiscord.engine.sids import new_sid, set_worker, worker_of
from minidiscord.frontend.server import NativeServer
from minidiscord.frontend.sticky import first_line
from minidiscord.workers.channel import Channel, Kind, channel_pair
from minidiscord.workers.routing import owner_of, sid_in
from minidiscord.workers.worker import WorkerRouting
from tests.support import sticky_app


@pytest.fixture
def worker_seven() -> Iterator[None]:
    set_worker(7)
    try:
        yield
    finally:
        set_worker(None)


def test_a_workers_session_ids_carry_its_number(worker_seven: None) -> None:
    sids = {new_sid() for _ in range(100)}
    assert len(sids) == 100
    assert {worker_of(sid) for sid in sids} == {7}
    assert all(sid.startswith("7.") and len(sid) == 22 for sid in sids)


def test_a_single_process_makes_ids_as_before() -> None:
    sid = new_sid()
    assert len(sid) == 20
    assert "." not in sid
    assert worker_of(sid) is None


@pytest.mark.parametrize("forged", ["", ".", "x.abc", "-1.abc", "12345.abc", "٣.abc", "abc"])
def test_ids_without_a_small_decimal_worker_number_name_no_worker(forged: str) -> None:
    assert worker_of(forged) is None


def test_the_route_is_the_sid_the_engine_reads() -> None:
    line = b"GET /socket.io/?EIO=4&transport=polling&sid=1.abc HTTP/1.1"
    assert sid_in(line) == "1.abc"
    assert owner_of(line) == 1
    # As the engine's query parsing: percent-decoded, the last one wins.
    assert sid_in(b"POST /socket.io/?sid=0.a&EIO=4&sid=%33.b HTTP/1.1") == "3.b"
    assert owner_of(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1") is None
    assert owner_of(b"GET /healthz HTTP/1.1") is None
    assert owner_of(b"GET /socket.io/?sid=abc HTTP/1.1") is None
    assert owner_of(b"garbage") is None


def test_the_request_line_is_read_up_to_its_end_or_a_limit() -> None:
    assert first_line(b"GET / HTTP/1.1\r\nHost: x\r\n", 100) == b"GET / HTTP/1.1"
    assert first_line(b"GET / HTTP/1.1\nHost: x\n", 100) == b"GET / HTTP/1.1"
    assert first_line(b"GET /socket.io/?sid=", 100) is None
    assert first_line(b"G" * 100, 100) == b"G" * 100


async def test_a_connection_crosses_a_channel_with_the_bytes_read_from_it() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = trio.socket.socket()
    await client.connect(listener.getsockname())
    accepted, _ = await listener.accept()
    await client.send(b"GET / HTTP/1.1\r\n")
    read = await accepted.recv(100)
    parent_end, worker_end = channel_pair()
    parent, worker = Channel(parent_end), Channel(worker_end)

    await parent.send_connection(accepted.fileno(), read)
    accepted.close()  # the sender's copy only: the connection stays open
    message = await worker.receive()
    assert message is not None
    assert message.kind is Kind.CONNECTION
    assert message.received == b"GET / HTTP/1.1\r\n"
    assert message.fd is not None
    handed = socket.socket(fileno=message.fd)
    assert handed.getpeername() == client.getsockname()  # the client, not the parent
    handed.sendall(b"answered by the receiver")
    handed.close()
    assert await client.recv(100) == b"answered by the receiver"

    await worker.send_ready()
    ready = await parent.receive()
    assert ready is not None
    assert ready.kind is Kind.READY
    worker.close()
    assert await parent.receive() is None  # the other end is gone
    parent.close()
    client.close()
    listener.close()


async def test_a_malformed_message_is_dropped_and_its_descriptor_closed() -> None:
    parent_end, worker_end = channel_pair()
    spare_a, spare_b = socket.socketpair()
    # A connection message without a descriptor, then one with a kind no one sends.
    parent_end.send(Kind.CONNECTION.value + b"GET")
    parent_end.sendmsg(
        [b"Z"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, spare_a.fileno().to_bytes(4, "little"))]
    )
    spare_a.close()
    parent_end.send(Kind.READY.value)
    worker = Channel(worker_end)
    message = await worker.receive()
    assert message is not None
    assert message.kind is Kind.READY
    # The dropped descriptor was closed: the pair's other end sees the end of the stream.
    assert spare_b.recv(1) == b""
    spare_b.close()
    parent_end.close()
    worker.close()


async def _request(stream: trio.SocketStream, data: bytes) -> bytes:
    await stream.send_all(data)
    received = b""
    while b"\r\n\r\n" not in received:
        received += await stream.receive_some(65536)
    return received


async def test_a_kept_alive_connection_goes_back_when_its_next_request_is_another_workers(
    nursery: trio.Nursery,
) -> None:
    parent_end, worker_end = channel_pair()
    parent = Channel(parent_end)
    server = NativeServer(sticky_app.app)
    server.context.sticky = WorkerRouting(0, 2, Channel(worker_end))
    shutdown = trio.Event()
    urls = await nursery.start(functools.partial(server.serve, "127.0.0.1", 0, shutdown.wait))
    port = int(urls[0].rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    handshake = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n\r\n"
    first = await _request(stream, handshake)
    assert first.startswith(b"HTTP/1.1 200")
    # Worker 0's own sessions, and new ones, stay; worker 1's goes back, with every byte
    # the client sent after it (a pipelined request included).
    unknown = (
        b"GET /socket.io/?EIO=4&transport=polling&sid=0.nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    assert (await _request(stream, unknown)).startswith(b"HTTP/1.1 400")
    foreign = (
        b"POST /socket.io/?EIO=4&transport=polling&sid=1.theirs HTTP/1.1\r\n"
        b"Host: localhost\r\nContent-Length: 2\r\n\r\n40"
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    await stream.send_all(foreign)
    with trio.fail_after(5):
        message = await parent.receive()
    assert message is not None
    assert message.kind is Kind.CONNECTION
    assert message.received == foreign
    assert message.fd is not None
    # The client's connection is still open: whoever holds the descriptor answers on it.
    handed = socket.socket(fileno=message.fd)
    handed.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    handed.close()
    assert (await _request(stream, b"")).startswith(b"HTTP/1.1 200 OK")
    await stream.aclose()
    shutdown.set()
