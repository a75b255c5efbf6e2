"""hypercorn's connection reading loop as :mod:`minidiscord.hostfixes` writes it
(``TCPServer._read_data``): hypercorn's own behaviour (each read bounded by its read
timeout, the connection's end on a failed read, a timeout or the client's close), then its
keep-alive timer stopped for good.

The loop alone, on a trio memory stream and MockClock, with a stand-in for the rest of
hypercorn's connection (what the loop hands its protocol is recorded); the suite runs the
whole server on hypercorn besides.
"""

from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypercorn.events import Closed, RawData
from hypercorn.trio.tcp_server import TCPServer

from minidiscord import hostfixes


@dataclass
class Config:
    read_timeout: float | None


@dataclass
class Protocol:
    events: list[Any] = field(default_factory=list)

    async def handle(self, event: Any) -> None:
        self.events.append(event)


@dataclass
class IdleTimer:
    stopped: bool = False

    async def stop(self) -> None:
        self.stopped = True


@dataclass
class Connection:
    """What ``_read_data`` uses of hypercorn's ``TCPServer``."""

    config: Config
    stream: trio.abc.Stream
    protocol: Protocol = field(default_factory=Protocol)
    idle_task: IdleTimer = field(default_factory=IdleTimer)


def connection(read_timeout: float | None) -> tuple[Connection, trio.abc.Stream]:
    """A connection whose loop reads what the returned client stream sends."""
    hostfixes.install()
    client, server = trio.testing.memory_stream_pair()
    return Connection(Config(read_timeout), server), client


async def read(conn: Connection) -> None:
    await TCPServer._read_data(conn)  # type: ignore[arg-type]


async def test_what_the_client_sends_goes_to_the_protocol_until_it_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conn, client = connection(read_timeout=30.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read, conn)
        await client.send_all(b"GET / HTTP/1.1\r\n")
        await trio.sleep(20.0)  # within the read timeout
        await client.send_all(b"\r\n")
        await client.send_eof()  # type: ignore[attr-defined]
    assert conn.protocol.events == [
        RawData(data=b"GET / HTTP/1.1\r\n"),
        RawData(data=b"\r\n"),
        RawData(data=b""),
        Closed(),
    ]
    assert conn.idle_task.stopped


async def test_a_client_silent_for_the_read_timeout_is_let_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conn, _client = connection(read_timeout=30.0)
    started = trio.current_time()
    await read(conn)
    assert trio.current_time() - started == 30.0
    assert conn.protocol.events == [Closed()]
    assert conn.idle_task.stopped


async def test_without_a_read_timeout_a_silent_client_is_read_for_as_long_as_it_stays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conn, _client = connection(read_timeout=None)
    with trio.move_on_after(10_000.0) as waited:
        await read(conn)
    assert waited.cancelled_caught
    assert conn.protocol.events == []


async def test_a_stream_that_breaks_ends_the_connection() -> None:
    conn, client = connection(read_timeout=30.0)
    await client.aclose()
    await conn.stream.aclose()
    await read(conn)
    assert conn.protocol.events == [Closed()]
    assert conn.idle_task.stopped
