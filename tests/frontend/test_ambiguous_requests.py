"""Ambiguous request heads (request smuggling) get a 400 and a close on both front ends.

h11, which both front ends parse with, guesses on some of these: the first test records
what it (and so hypercorn without our host adjustment, which feeds h11 the bytes as they
come) does with each; the others hold both front ends to refusing them.
"""

import json

import h11
import pytest
import trio

from minidiscord.frontend.strict import HEAD_END, AmbiguousRequest, StrictConnection, ambiguity
from tests.frontend.test_native_server import ask, read_responses
from tests.hardening.test_slow_peers import _closed_by_server
from tests.support.rawclient import raw_websocket
from tests.support.servers import RunningServer, ServerFactory

FRONTENDS = ["hypercorn", "native"]

POST = b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
OK = GET + b"\r\n"
CASES = {
    "content-length and transfer-encoding": (
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "transfer-encoding gzip, chunked": POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "transfer-encoding identity": POST + b"Transfer-Encoding: identity\r\n\r\n",
    "transfer-encoding chunked twice": (
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "content-lengths that differ": POST + b"Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
    "content-length list that differs": POST + b"Content-Length: 0, 5\r\n\r\nhello",
    "obs-fold with a space": GET + b"X-Folded: a\r\n b\r\n\r\n",
    "obs-fold with a tab": GET + b"X-Folded: a\r\n\tb\r\n\r\n",
    "bare LF everywhere": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
    "bare LF on one line": GET + b"X-Other: y\nX-Last: z\r\n\r\n",
    "bare LF ending the head": GET + b"\n",
}

# What h11 does with each on its own (hypercorn 0.18 answered the same over a socket before
# hostfixes.refuse_ambiguous_requests): "guessed" means it parsed a request and went on.
H11_ALONE = {
    "content-length and transfer-encoding": "guessed",  # chunked wins, length ignored
    "transfer-encoding gzip, chunked": 501,
    "transfer-encoding identity": 501,
    "transfer-encoding chunked twice": 501,
    "content-lengths that differ": 400,
    "content-length list that differs": 400,
    "obs-fold with a space": "guessed",  # unfolded into "a b"
    "obs-fold with a tab": "guessed",
    "bare LF everywhere": "guessed",  # taken as CRLF
    "bare LF on one line": "guessed",
    "bare LF ending the head": "guessed",
}


@pytest.mark.parametrize("case", CASES)
def test_what_h11_alone_does_with_each_case(case: str) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(CASES[case])
    if H11_ALONE[case] == "guessed":
        assert isinstance(conn.next_event(), h11.Request)
    else:
        with pytest.raises(h11.RemoteProtocolError) as refused:
            conn.next_event()
        assert refused.value.error_status_hint == H11_ALONE[case]


@pytest.mark.parametrize("case", CASES)
def test_every_case_is_found_in_the_raw_head(case: str) -> None:
    end = HEAD_END.search(CASES[case])
    assert end is not None
    assert ambiguity(CASES[case][: end.end()]) is not None


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5, 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Value: a b\tc\r\n\r\n",
    ],
)
def test_unambiguous_heads_pass(head: bytes) -> None:
    assert ambiguity(head) is None


@pytest.mark.parametrize("case", CASES)
def test_a_head_is_judged_whole_however_it_is_split(case: str) -> None:
    # Each case behind a good pipelined request, cut in two at every byte.
    data = OK + CASES[case]
    for cut in range(1, len(data)):
        conn = StrictConnection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        events: list[h11.Event] = []
        with pytest.raises(AmbiguousRequest):
            _feed(conn, [data[:cut], data[cut:]], events)
        assert [type(event) for event in events] == [h11.Request, h11.EndOfMessage]


def _feed(conn: StrictConnection, pieces: list[bytes], events: list[h11.Event]) -> None:
    """Give ``conn`` each piece and take every event it yields into ``events``, answering
    each request at once."""
    for piece in pieces:
        conn.receive_data(piece)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            assert isinstance(event, h11.Event)
            events.append(event)
            if isinstance(event, h11.EndOfMessage):
                conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()


async def _refused(stream: trio.SocketStream) -> bytes:
    """The server's answer, which must be a 400 that closes the connection."""
    (answer,) = await read_responses(stream, 1)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"connection: close" in answer.lower()
    assert await _closed_by_server(stream)
    return answer


async def _healthy(server: RunningServer) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    assert (await ask(stream, OK)).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("case", CASES)
async def test_an_ambiguous_request_gets_400_and_a_close(
    start_server: ServerFactory, frontend: str, case: str
) -> None:
    server = await start_server(frontend=frontend)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(CASES[case])
    await _refused(stream)
    await _healthy(server)


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_an_ambiguous_request_pipelined_behind_a_good_one_is_refused(
    start_server: ServerFactory, frontend: str
) -> None:
    server = await start_server(frontend=frontend)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(OK + CASES["obs-fold with a space"])
    first, second = await read_responses(stream, 2)
    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 400")
    assert await _closed_by_server(stream)


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("case", ["bare LF ending the head", "obs-fold with a tab"])
async def test_an_ambiguous_head_sent_a_byte_at_a_time_is_refused(
    start_server: ServerFactory, frontend: str, case: str
) -> None:
    server = await start_server(frontend=frontend)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    stream.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY, 1)
    for byte in CASES[case]:
        await stream.send_all(bytes([byte]))
        await trio.sleep(0.001)
    await _refused(stream)


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_clients_connected_before_go_on(start_server: ServerFactory, frontend: str) -> None:
    server = await start_server(frontend=frontend)
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"username":"bystander"}')
        assert (await client.text()).startswith("40{")
        smuggler = await trio.open_tcp_stream("127.0.0.1", server.port)
        await smuggler.send_all(CASES["content-length and transfer-encoding"])
        await _refused(smuggler)
        await client.send('421["message:channel:send","general","still here"]')
        with trio.fail_after(10):
            while not (frame := await client.text()).startswith("431"):
                pass
        assert json.loads(frame[3:])[0]["ok"] is True
