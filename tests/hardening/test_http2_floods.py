"""One HTTP/2 client's floods cost that client only, on hypercorn (the front end that speaks
HTTP/2): streams it opens and resets at once (rapid reset, CVE-2023-44487), PINGs and
SETTINGS it sends without reading their acknowledgements, the streams it keeps open on
many connections, PRIORITY frames for streams it never opens, and header blocks it never
ends. Meanwhile another client (an HTTP/1.1 WebSocket) gets every broadcast.

The clients are real ``h2`` connections (:class:`.test_stalled_http2.H2Client`); the flooding
ones put frames on the wire whatever the server answers (a GOAWAY included), as an attacker
would. Each flood is bounded in count and in time.
"""

from dataclasses import dataclass, field

import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
import trio
import trio.testing

from minidiscord.asgi_io import Receive, Scope, Send
from minidiscord.frontend.hosting import hypercorn_config
from minidiscord.sockets import SocketServer
from tests.frontend.test_direct_send import items, room_server
from tests.hardening.test_stalled_connections import WebSocketClient
from tests.hardening.test_stalled_http2 import H2Client, H2Polling, Served, served
from tests.support.servers import TEST_SETTINGS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    TEST_SETTINGS.frontend != "hypercorn",
    reason="HTTP/2 is hypercorn's: the native front end speaks HTTP/1.1 only",
)

# A path the Socket.IO server hands to the test's own app (below).
WAIT = "/wait"
# An HTTP/2 connection ends after this many requests (hypercorn's keep_alive_max_requests).
MAX_REQUESTS = hypercorn_config(TEST_SETTINGS).keep_alive_max_requests
# What one read of hypercorn's (64 KiB) holds of HEADERS + RST_STREAM pairs: the requests a
# connection gets past its limit, taken from that read before it ends.
PER_READ = 2**16 // 20


@dataclass
class Requests:
    """An ASGI app behind the Socket.IO server: each request waits for a body that, in these
    tests, never comes (as ``POST /api/login`` would), and ends when its client goes."""

    started: int = 0
    running: int = 0
    finished: trio.Event = field(default_factory=trio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.started += 1
        self.running += 1
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            self.running -= 1


def server_with(requests: Requests) -> SocketServer:
    return room_server(other_asgi_app=requests)


def request_headers(path: str, method: str = "GET") -> list[tuple[bytes, bytes]]:
    return [
        (b":method", method.encode()),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", b"localhost"),
    ]


def regardless(client: H2Client) -> h2.connection.H2Connection:
    """The client's h2 state, told the connection is still open: it sends what it is told
    to whatever the server said (h2 would refuse to after a GOAWAY)."""
    connection = client.connection
    connection.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    return connection


@dataclass
class Frames:
    """What the server sent a flooding client, read by hand (its h2 state is not fed)."""

    goaways: list[tuple[int, int]] = field(default_factory=list)
    resets: dict[int, int] = field(default_factory=dict)
    closed: trio.Event = field(default_factory=trio.Event)
    _buffer: bytearray = field(default_factory=bytearray)

    async def read(self, stream: trio.abc.Stream) -> None:
        try:
            while data := await stream.receive_some(1 << 16):
                self._parse(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.closed.set()

    def _parse(self, data: bytes | bytearray) -> None:
        self._buffer += data
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            kind, stream_id = self._buffer[3], int.from_bytes(self._buffer[5:9], "big")
            payload = bytes(self._buffer[9 : 9 + length])
            del self._buffer[: 9 + length]
            if kind == 0x7:  # GOAWAY: last stream id, error code
                last = int.from_bytes(payload[:4], "big") & 0x7FFF_FFFF
                self.goaways.append((int.from_bytes(payload[4:8], "big"), last))
            elif kind == 0x3:  # RST_STREAM
                self.resets[stream_id & 0x7FFF_FFFF] = int.from_bytes(payload[:4], "big")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame, built by hand: h2 sends none of the kinds below as a flood would."""
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


def priority_frame(stream_id: int, depends_on: int, weight: int, exclusive: bool) -> bytes:
    dependency = depends_on | (0x8000_0000 if exclusive else 0)
    return frame(0x2, 0, stream_id, dependency.to_bytes(4, "big") + bytes([weight - 1]))


async def broadcasts_reach(server: Served, reader: WebSocketClient, first: int, count: int) -> None:
    """``count`` broadcasts, from index ``first``, all reach ``reader``."""
    for index in range(first, first + count):
        server.sio.to("room").emit("item", index, "x")
    assert items(await reader.messages(count)) == [(i, 1) for i in range(first, first + count)]


async def test_rapid_reset_ends_the_connection_and_leaves_no_requests_running() -> None:
    # Streams opened and reset at once do not count against the 100 a connection may have
    # open, so nothing in HTTP/2 itself stops them. hypercorn ends a connection once it has
    # taken keep_alive_max_requests requests (a GOAWAY, then the close when more come), and
    # each reset request ends with its stream: the flood's requests are bounded per
    # connection, and none lingers. Without that limit the connection would take all of them.
    requests = Requests()
    async with served(server_with(requests), None) as server:
        reader = await server.reader()
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        frames = Frames()
        sent = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(frames.read, client.stream)
            connection = regardless(client)
            with trio.move_on_after(20):
                # 20,000 at most: ten times what the connection may take.
                while sent < 20 * MAX_REQUESTS and not frames.closed.is_set():
                    for _ in range(100):
                        stream_id = connection.get_next_available_stream_id()
                        connection.send_headers(stream_id, request_headers(WAIT), end_stream=True)
                        connection.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                        sent += 1
                    try:
                        await client.flush()
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break
                    await broadcasts_reach(server, reader, sent, 1)
            await frames.closed.wait()
        assert frames.goaways, "the server never sent GOAWAY"
        assert frames.goaways[0][0] == h2.errors.ErrorCodes.NO_ERROR
        assert MAX_REQUESTS < requests.started <= MAX_REQUESTS + PER_READ < sent
        await wait_until(lambda: requests.running == 0)
        await broadcasts_reach(server, reader, sent + 1, 10)


@pytest.mark.parametrize("frame", ["PING", "SETTINGS"])
async def test_control_frames_sent_without_reading_the_answers_are_not_read_either(
    frame: str,
) -> None:
    # Each PING (SETTINGS) makes the server queue a PING ACK (SETTINGS ACK). hypercorn reads
    # the next bytes only once it has written what the last ones made it queue, so a client
    # that does not read stops being read: what the server holds for it is one read's worth
    # of acknowledgements, and the client's sends stop. A server that queued them instead
    # would take every frame, and hold an acknowledgement for each.
    frames_per_chunk = 1000
    limit = 4 * 2**20  # what the client tries to send: 4 MiB of frames
    async with served(room_server(), None) as server:
        reader = await server.reader()
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        connection = client.connection
        sent = 0
        stalled = False
        while sent < limit:
            for index in range(frames_per_chunk):
                if frame == "PING":
                    connection.ping(index.to_bytes(8, "big"))
                else:
                    connection.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
            chunk = connection.data_to_send()
            with trio.move_on_after(2) as waited:
                await client.stream.send_all(chunk)
            if waited.cancelled_caught:
                stalled = True
                break
            sent += len(chunk)
        assert stalled, f"the server took all {sent} bytes of {frame} frames"
        # Far less than the flood: kernel buffers and one read of the server's.
        assert sent < limit // 2
        await broadcasts_reach(server, reader, 0, 10)


async def test_http2_streams_count_against_the_address_cap() -> None:
    # An HTTP/2 connection carries up to 100 requests at once, and a client keeps them open
    # as long as it sends frames: the per-address cap on connections would let one address
    # hold 100 times as many requests as over HTTP/1.1. Its streams now count under that cap
    # too, and one over it is refused (REFUSED_STREAM) before the app sees it.
    requests = Requests()
    cap = 10
    async with served(
        server_with(requests), None, ip_max_connections=cap, forwarded_allow_ips=()
    ) as server:
        reader = await server.reader()
        flooder = await H2Client.open(server.port, None, "socket")
        server.socks.append(flooder.sock)
        frames = Frames()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(frames.read, flooder.stream)
            connection = flooder.connection
            opened = [connection.get_next_available_stream_id() + 2 * i for i in range(3 * cap)]
            for stream_id in opened:
                # A POST whose body never ends: each would wait for as long as the
                # connection lasts (the refused ones' DATA comes in the same read).
                connection.send_headers(stream_id, request_headers(WAIT, "POST"))
                connection.send_data(stream_id, b"x" * 100)
            await flooder.flush()
            await wait_until(lambda: len(frames.resets) == 2 * cap)
            assert frames.resets == dict.fromkeys(opened[cap:], h2.errors.ErrorCodes.REFUSED_STREAM)
            await wait_until(lambda: requests.running == cap)
            assert requests.started == cap
            # Refusing streams is not ending the connection.
            assert not frames.goaways
            assert not frames.closed.is_set()
            # A connection's only stream is never refused: it was admitted for it.
            other = await H2Polling.open(server.port, None, "window")
            server.socks.append(other.sock)
            await other.join()
            assert other.sid in server.sio.engine.sessions
            await broadcasts_reach(server, reader, 0, 5)
            # Gone, the flooder's streams count no more.
            flooder.sock.close()
            nursery.cancel_scope.cancel()
        await wait_until(lambda: requests.running == 0)
        again = await H2Client.open(server.port, None, "socket")
        server.socks.append(again.sock)
        for _ in range(cap - 1):
            stream_id = again.connection.get_next_available_stream_id()
            again.connection.send_headers(stream_id, request_headers(WAIT, "POST"))
        await again.flush()
        await wait_until(lambda: requests.running == cap - 1)


async def test_http2_handshakes_count_against_the_address_session_cap() -> None:
    # Each stream may open an Engine.IO session: the engine's per-address cap
    # (--ip-max-sessions) holds for sessions opened over one HTTP/2 connection as well.
    cap = 3
    sio = room_server(ip_max_sessions=cap)
    async with served(sio, None) as server:
        client = await H2Polling.open(server.port, None, "window")
        server.socks.append(client.sock)
        sids = []
        for _ in range(cap):
            await client.join()
            sids.append(client.sid)
        assert set(sids) == set(sio.engine.sessions)
        stream_id = await client.request("GET", "/socket.io/?EIO=4&transport=polling")
        await client.read_until(
            lambda event: isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id
        )
        (response,) = [
            event
            for event in client.take(stream_id)
            if isinstance(event, h2.events.ResponseReceived)
        ]
        assert (b":status", b"429") in (response.headers or []), response.headers
        assert set(sio.engine.sessions) == set(sids)


async def test_priority_frames_for_streams_never_opened_are_not_kept() -> None:
    # hypercorn put every PRIORITY signal into its priority tree (the ``priority`` package's),
    # streams never opened included, up to 1,000 entries a connection. Each reprioritisation
    # then rebuilt a heap of them (measured here: 1.4 ms a frame with 990 entries, 2.8 s for
    # each round below, the whole server stalled meanwhile), and the sending task walked them
    # for every DATA frame it sent. Signals that RFC 9113 deprecates
    # are now ignored: the tree holds the streams actually open, nothing else.
    async with served(room_server(), None) as server:
        reader = await server.reader()
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        # Stream ids never opened (the client's own requests use 1, 3, ...).
        phantoms = [1001 + 2 * index for index in range(990)]
        rounds, per_round = 10, 2000
        for round_index in range(rounds):
            frames = bytearray()
            for index in range(per_round):
                # The first round names each stream once; the later ones name them again.
                stream_id = phantoms[(round_index * per_round + index) % len(phantoms)]
                frames += priority_frame(stream_id, 0, 1 + index % 256, exclusive=False)
            await client.stream.send_all(frames)
            await broadcasts_reach(server, reader, round_index, 1)
            (protocol,) = server.h2_protocols()
            # The root only: no stream is open.
            assert len(protocol.priority._streams) == 1
        # The connection still serves, a request's own priority signal naming a parent never
        # opened included.
        stream_id = client.connection.get_next_available_stream_id()
        client.connection.send_headers(
            stream_id,
            request_headers("/socket.io/?EIO=4&transport=polling"),
            end_stream=True,
            priority_weight=200,
            priority_depends_on=phantoms[0],
            priority_exclusive=True,
        )
        await client.flush()
        assert await client.answer(stream_id)
        (protocol,) = server.h2_protocols()
        await wait_until(lambda: len(protocol.priority._streams) == 1)
        await broadcasts_reach(server, reader, rounds, 10)


def header_block_held(server: Served) -> int:
    """The bytes of unfinished header blocks (and of a frame not yet whole) the server's HTTP/2
    connections hold."""
    held = 0
    for protocol in server.h2_protocols():
        incoming = protocol.connection.incoming_buffer
        held += len(incoming._data) + sum(len(part.data) for part in incoming._headers_buffer)
    return held


@pytest.mark.parametrize(
    ("size", "error"),
    [
        # Frames as large as the server takes: what one block may hold in bytes bounds it.
        (2**14, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM),
        # Empty ones: h2's own count of a block's CONTINUATION frames (64) bounds it.
        (0, h2.errors.ErrorCodes.PROTOCOL_ERROR),
    ],
)
async def test_a_header_block_that_never_ends_ends_its_connection(
    size: int, error: h2.errors.ErrorCodes
) -> None:
    # HEADERS without END_HEADERS, then CONTINUATION frames without it (CVE-2024-27316): h2
    # keeps each until the block ends, and refuses a 65th. With 16 KiB frames that let one
    # connection hold 1 MiB of a block that never ends, for as long as its client dripped the
    # next frame's bytes (each read restarts hypercorn's read timer), where an HTTP/1.1 head
    # may hold 16 KiB. A block's encoded bytes are now bounded by the decoded size hypercorn
    # takes (h2_max_header_list_size, 64 KiB), past which the connection ends.
    limit = hypercorn_config(TEST_SETTINGS).h2_max_header_list_size
    async with served(room_server(), None) as server:
        reader = await server.reader()
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        frames = Frames()
        fragment = b"\x00" * size
        sent = held = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(frames.read, client.stream)
            try:
                # HEADERS with END_STREAM (a GET) but not END_HEADERS.
                await client.stream.send_all(frame(0x1, 0x1, 1, fragment))
                while sent < 1000 and not frames.closed.is_set():
                    await client.stream.send_all(frame(0x9, 0, 1, fragment))
                    sent += 1
                    # The server has taken all it will of what was sent.
                    await trio.testing.wait_all_tasks_blocked()
                    held = max(held, header_block_held(server))
                    if sent % 16 == 0:
                        await broadcasts_reach(server, reader, sent, 1)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            with trio.fail_after(10):
                await frames.closed.wait()
        assert held <= limit + 2 * 2**14, f"{held} bytes of one header block held"
        assert [code for code, _ in frames.goaways] == [error]
        # The frame that crossed a bound, and what the kernel had already taken.
        assert sent <= 65
        assert not server.h2_protocols()
        await broadcasts_reach(server, reader, sent + 1, 10)


async def test_a_header_block_in_continuation_frames_is_served() -> None:
    # What the bound above leaves alone: a block split over several frames.
    async with served(room_server(), None) as server:
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        stream_id = client.connection.get_next_available_stream_id()
        padding = [(b"x-padding-%d" % index, b"y" * 200) for index in range(20)]
        headers = request_headers("/socket.io/?EIO=4&transport=polling") + padding
        client.connection.send_headers(stream_id, headers, end_stream=True)
        # h2's HEADERS frame (END_STREAM, END_HEADERS), sent as three frames.
        sent = client.connection.data_to_send()
        assert sent[3:5] == b"\x01\x05"
        assert len(sent) == 9 + int.from_bytes(sent[:3], "big")
        block = sent[9:]
        third = len(block) // 3
        await client.stream.send_all(
            frame(0x1, 0x1, stream_id, block[:third])
            + frame(0x9, 0, stream_id, block[third : 2 * third])
            + frame(0x9, 0x4, stream_id, block[2 * third :])
        )
        assert await client.answer(stream_id)
