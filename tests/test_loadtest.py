"""The load script: its pure parts (histogram, merging, ramp, frames) and a short real run."""

import itertools
import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from typing import Any

import orjson
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from benchkit import servermetrics, stats, wire
from benchkit.acquaintances import (
    JOIN_PREFIX,
    PREFIXES,
    USERS_PREFIX,
    Acquaintances,
    Usernames,
)
from benchkit.bulk import BulkReceiver
from benchkit.framecount import FrameCounter
from benchkit.processes import HANDSHAKE, ROOT, UNLIMITED, free_port, running, script_args
from minidiscord.limits import Rate
from scripts import bench, loadtest
from tests.support.redisserver import RedisServer
from tests.support.servers import RunningServer, ServerFactory, start_nodes
from tests.support.waiting import wait_until

# --- latency histogram -----------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**9))
def test_every_value_falls_inside_its_bucket(us: int) -> None:
    low, high = stats.bucket_bounds(stats.bucket_of(us))
    assert low <= us < high
    # Log-linear: a bucket is never wider than 1/64 of its lower bound (exact below 128 us).
    assert high - low <= max(1, low // 64)


def test_buckets_are_contiguous_and_ordered() -> None:
    previous_high = 0
    for index in range(2000):
        low, high = stats.bucket_bounds(index)
        assert low == previous_high
        previous_high = high


def test_percentiles_of_a_known_distribution() -> None:
    hist = stats.Histogram()
    for us in range(1, 10_001):
        hist.record(us)
    for pct in (50, 90, 99):
        value = hist.percentile_us(pct)
        assert value is not None
        assert math.isclose(value, pct * 100, rel_tol=0.02)
    assert hist.percentile_us(100) == 10_000
    assert hist.summary_ms()["max"] == 10.0


def test_percentile_of_an_empty_histogram_is_none() -> None:
    hist = stats.Histogram()
    assert hist.percentile_us(50) is None
    assert hist.summary_ms() == {"p50": None, "p90": None, "p99": None, "max": None}


@given(st.lists(st.integers(0, 10**7)), st.lists(st.integers(0, 10**7)))
def test_merged_histograms_equal_one_that_saw_everything(a: list[int], b: list[int]) -> None:
    first, second, both = stats.Histogram(), stats.Histogram(), stats.Histogram()
    for us in a:
        first.record(us)
        both.record(us)
    for us in b:
        second.record(us)
        both.record(us)
    # Across processes histograms travel as JSON.
    first.merge(stats.Histogram.from_json(orjson.loads(orjson.dumps(second.to_json()))))
    assert first == both


# --- merging worker reports, holding, ramping --------------------------------------------------


def part(**overrides: Any) -> dict[str, Any]:
    hist = stats.Histogram()
    for us in overrides.pop("latencies", [1000, 2000]):
        hist.record(us)
    report: dict[str, Any] = {
        "rate": 5.0,
        "duration": 2.0,
        "senders": 1,
        "members": 3,
        "planned": 10,
        "sent": 10,
        "acked": 10,
        "delivered": 50,
        "latency": hist.to_json(),
        "errors": {"disconnected": 0, "send": 0, "ack": 0},
        "cpu_percent": 20.0,
    }
    report.update(overrides)
    return report


def test_merge_counts_deliveries_against_all_members_of_all_processes() -> None:
    merged = loadtest.merge_phase_results(
        [
            part(members=3, sent=10, delivered=60, latencies=[1000]),
            part(members=2, sent=6, delivered=20, latencies=[3000, 5000], cpu_percent=95.0),
        ]
    )
    # Every message reaches every member, whichever process either lives in: 16 x 5.
    assert merged["expected"] == 80
    assert merged["delivered"] == 80
    assert merged["delivery_ratio"] == 1.0
    assert merged["deliveries_per_s"] == 40.0
    assert merged["sent"] == 16
    assert merged["members"] == 5
    assert merged["latency_ms"]["max"] == 5.0
    assert merged["loadgen_cpu_percent"] == [20.0, 95.0]
    assert merged["loadgen_bottleneck"] is True


def test_merge_adds_errors_and_reports_a_shortfall() -> None:
    merged = loadtest.merge_phase_results(
        [
            part(delivered=25, errors={"disconnected": 1, "send": 0, "ack": 2}),
            part(delivered=25, errors={"disconnected": 0, "send": 3, "ack": 0}),
        ]
    )
    assert merged["errors"] == {"disconnected": 1, "send": 3, "ack": 2}
    assert merged["delivery_ratio"] == round(50 / 120, 6)
    assert merged["loadgen_bottleneck"] is False


def phase(ratio: float | None, p99: float | None, sent: int = 100, planned: int = 100) -> Any:
    return {"delivery_ratio": ratio, "latency_ms": {"p99": p99}, "sent": sent, "planned": planned}


@pytest.mark.parametrize(
    ("result", "holds"),
    [
        (phase(1.0, 20.0), True),
        (phase(0.999, 199.0), True),
        (phase(0.998, 20.0), False),
        (phase(1.0, 200.0), False),
        (phase(None, None, sent=0), False),
        # The generator could not send what it planned: the load was never offered.
        (phase(1.0, 20.0, sent=90), False),
    ],
)
def test_phase_holds(result: dict[str, Any], holds: bool) -> None:
    assert loadtest.phase_holds(result) is holds


def run_ramp(search: loadtest.RampSearch, capacity: float) -> list[float]:
    tried = []
    while (rate := search.next_rate()) is not None:
        tried.append(rate)
        search.record(rate, rate <= capacity)
    return tried


def test_ramp_doubles_then_bisects_to_the_capacity() -> None:
    search = loadtest.RampSearch(start=1.0, precision=1.1, max_steps=20)
    tried = run_ramp(search, capacity=11.0)
    assert tried[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert search.held is not None
    assert search.failed is not None
    assert search.held <= 11.0 < search.failed
    assert search.failed / search.held <= 1.1


def test_ramp_shrinks_when_the_first_step_fails() -> None:
    search = loadtest.RampSearch(start=10.0, max_steps=20)
    tried = run_ramp(search, capacity=3.0)
    assert tried[:3] == [10.0, 5.0, 2.5]
    assert search.held is not None
    assert search.held <= 3.0


def test_ramp_is_bounded_in_steps_and_rate() -> None:
    assert len(run_ramp(loadtest.RampSearch(start=1.0, max_steps=4), capacity=1e9)) == 4
    search = loadtest.RampSearch(start=1.0, max_steps=100, max_rate=64.0)
    assert run_ramp(search, capacity=1e9)[-1] == 64.0
    nothing = loadtest.RampSearch(start=1.0, max_steps=100, min_rate=0.1)
    run_ramp(nothing, capacity=0.0)
    assert nothing.held is None


def test_split_evenly() -> None:
    assert loadtest.split_evenly(10, 3) == [4, 3, 3]
    assert sum(loadtest.split_evenly(1001, 4)) == 1001


# --- the wire --------------------------------------------------------------------------------


def server_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_parse_frames_reads_every_length_encoding(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    data = server_frame(payload) + server_frame(b"2")
    frames, used = wire.parse_frames(bytearray(data))
    assert frames == [(0x81, payload), (0x81, b"2")]
    assert used == len(data)


def test_parse_frames_leaves_an_incomplete_frame_in_the_buffer() -> None:
    whole = server_frame(b"hello") + server_frame(b"x" * 300)
    for cut in range(len(whole)):
        frames, used = wire.parse_frames(bytearray(whole[:cut]))
        assert used == sum(len(server_frame(p)) for _, p in frames)
        assert len(frames) == (0 if cut < 7 else 1)


def test_a_masked_server_frame_is_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.parse_frames(bytearray(b"\x81\x85abcd12345"))


@given(st.binary(max_size=70_000), st.binary(min_size=4, max_size=4))
def test_client_frames_unmask_to_the_payload(payload: bytes, mask: bytes) -> None:
    frame = wire.encode_client_frame(0x1, payload, mask)
    assert frame[0] == 0x81
    assert frame[1] & 0x80
    length = frame[1] & 0x7F
    offset = 2 + {126: 2, 127: 8}.get(length, 0)
    key, body = frame[offset : offset + 4], frame[offset + 4 :]
    assert key == mask
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == payload


def test_websocket_accept_matches_rfc6455_example() -> None:
    assert wire.websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_deliveries_are_found_without_decoding_the_json() -> None:
    text = loadtest.message_text("ab3", 1712345678.123456, 7, 42, 80)
    assert len(text) == 80
    for separators in ((",", ":"), (", ", ": ")):
        message = {"id": "m1", "userId": "u", "username": "lt-7", "timestamp": 1, "message": text}
        body = separators[0].join(
            ['"message:channel"', '"general"', orjson.dumps(message).decode()]
        )
        frame = f"42[{body}]".encode()
        assert loadtest.parse_delivery(frame) == (b"ab3", 1712345678.123456)
    assert loadtest.parse_delivery(b'42["user:join",{"username":"LT|x|1.0|"}]') is None
    assert loadtest.parse_delivery(b'42["message:channel","general",{"message":"hi"}]') is None


def test_acks_are_parsed() -> None:
    assert wire.parse_ack(b'4312[{"ok":true,"id":"m1"}]') == (12, [{"ok": True, "id": "m1"}])
    assert wire.parse_ack('4312[{"ok":true}]') == (12, [{"ok": True}])
    assert wire.parse_ack(b"437[]") == (7, [])
    assert wire.parse_ack(b'42["x"]') is None
    assert wire.parse_ack(b"43[]") is None
    packet = wire.event_packet("message:channel:send", ("general", "hi"), 3)
    assert packet == '423["message:channel:send","general","hi"]'
    assert wire.event_packet("user:leave", ()) == '42["user:leave"]'


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_frame_head_with_a_zero_key_sends_the_payload_as_it_is(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert wire.client_frame_head(0x2, size) + payload == wire.encode_client_frame(
        0x2, payload, b"\0\0\0\0"
    )
    assert wire.client_frame_head(0x1, size, final=False)[0] == 0x01


# --- a short real run ------------------------------------------------------------------------


@pytest.fixture
def peer_url() -> Iterator[str]:
    """The python-socketio peer (scripts/peer_socketio.py) in a subprocess."""
    pytest.importorskip("uvicorn")
    port = free_port()
    command = script_args("peer_socketio", "--port", str(port))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    quiet = subprocess.DEVNULL
    with running(command, port, probe=HANDSHAKE, stdout=quiet, stderr=quiet, env=env):
        yield f"http://127.0.0.1:{port}"


async def run_loadtest(url: str, *args: str) -> dict[str, Any]:
    return await trio.to_thread.run_sync(partial(loadtest.run_command, url, *args))


def check_report(report: dict[str, Any], clients: int, procs: int) -> None:
    connect = report["connect"]
    assert connect["connected"] == clients
    assert connect["failed"] == 0
    [result] = report["phases"]
    assert report["result"] == result
    assert result["members"] == clients
    assert result["sent"] == result["planned"] > 0
    assert result["acked"] == result["sent"]
    assert result["expected"] == result["sent"] * clients
    assert result["delivered"] == result["expected"]
    assert result["delivery_ratio"] == 1.0
    assert result["errors"] == {"disconnected": 0, "send": 0, "ack": 0}
    latency = result["latency_ms"]
    assert 0 <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert len(result["loadgen_cpu_percent"]) == procs
    # Each worker says what its own collector and the machine's other work cost it.
    assert len(result["loadgen_gc_pauses"]) == procs
    assert all(pauses["count"] >= 0 for pauses in result["loadgen_gc_pauses"])
    assert len(result["loadgen_waited_for_a_core_s"]) == procs
    # Every timed client timed every message; the groups add up; nothing to report.
    assert result["timed_members"] > 0
    assert result["latency_samples"] == result["sent"] * result["timed_members"]
    assert result["sample_members"] + result["bulk_members"] == clients
    assert result["sample_delivered"] == result["sent"] * result["sample_members"]
    assert result["bulk_delivered"] == result["sent"] * result["bulk_members"]
    assert result["count_errors"] == []


# "--drain 20": a drain ends as soon as every delivery is in; on a machine busy with other
# work, 5 s has not always been enough for the last few.
@pytest.mark.slow
async def test_a_short_run_against_our_server(server: RunningServer) -> None:
    report = await run_loadtest(
        server.url, *("-c", "6", "-s", "2", "-r", "10", "-d", "1", "--drain", "20", "--procs", "2")
    )
    check_report(report, clients=6, procs=2)


@pytest.mark.slow
async def test_a_short_run_against_the_python_socketio_peer(peer_url: str) -> None:
    report = await run_loadtest(
        peer_url, *("-c", "5", "-s", "2", "-r", "10", "-d", "1", "--drain", "20")
    )
    check_report(report, clients=5, procs=1)


@pytest.mark.slow
async def test_the_full_client_transport_gives_the_same_counts(server: RunningServer) -> None:
    report = await run_loadtest(
        server.url,
        *("-c", "4", "-s", "1", "-r", "10", "-d", "1", "--transport", "client"),
    )
    check_report(report, clients=4, procs=1)


@pytest.mark.slow
async def test_senders_connect_to_the_send_url_and_the_others_to_the_url(
    start_server: ServerFactory,
) -> None:
    # Two separate servers (not a cluster): a message reaches only the clients on its
    # sender's server, so the counts say who connected where.
    sending, receiving = await start_server(), await start_server()
    report = await run_loadtest(
        receiving.url,
        *("--send-url", sending.url, "-c", "5", "-s", "2", "-r", "10", "-d", "1"),
        *("--drain", "2"),
    )
    assert report["send_url"] == sending.url
    [result] = report["phases"]
    assert result["sent"] == result["planned"] == result["acked"] > 0
    assert result["members"] == 5
    assert result["delivered"] == result["sent"] * 2  # the two senders, nobody on the other


@pytest.mark.slow
async def test_across_two_nodes_of_a_cluster_every_client_gets_every_message(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    sending, receiving = await start_nodes(start_server, redis.url, 2)
    report = await run_loadtest(
        receiving.url,
        *("--send-url", sending.url, "-c", "5", "-s", "2", "-r", "10", "-d", "1"),
        *("--drain", "20"),
    )
    check_report(report, clients=5, procs=1)


@pytest.mark.slow
async def test_clients_the_chat_refuses_are_connect_failures_not_silent_members(
    start_server: ServerFactory,
) -> None:
    # A chat client that does not ask for CONNECT_ERROR is let in without joining when it
    # is refused (to read why): a load generator counting it as a member would report a
    # shortfall of exactly its share of every message, with no error to say why.
    server = await start_server(ip_new_user_rate=Rate(burst=3, per_second=0.001))
    report = await run_loadtest(
        server.url,
        # Every client a sender: whichever three are let in send.
        *("-c", "5", "-s", "5", "-r", "10", "-d", "1", "--drain", "20"),
    )
    connect = report["connect"]
    assert (connect["connected"], connect["failed"]) == (3, 2)
    assert len(connect["failures"]) == 2
    assert all("too many new users from your address" in text for text in connect["failures"])
    [result] = report["phases"]
    assert result["members"] == 3
    assert result["sent"] == result["acked"] > 0
    assert result["delivered"] == result["expected"] == result["sent"] * 3


@pytest.mark.slow
async def test_a_connect_storm_is_over_once_every_client_knows_every_other_whatever_the_pings_do(
    start_server: ServerFactory,
) -> None:
    # Heartbeats every 0.1 s to each of 30 clients: one lands in any quiet spell a check
    # counting every frame would wait for, so it would wait out its whole limit.
    server = await start_server(ping_interval=0.1, ping_timeout=5.0)
    report = await run_loadtest(server.url, *("-c", "30", "-d", "0", "--sample", "5"))
    connect = report["connect"]
    assert (connect["connected"], connect["failed"]) == (30, 0)
    # The sample and the clients counted in bulk alike: each knows the 29 others.
    assert connect["acquaintances"] == {
        "clients": 30,
        "knowing_everyone": 30,
        "missing": 0,
        "twice": 0,
    }
    # One node: each client is announced to every one that joined before it.
    assert connect["joins"] == {"delivered": 30 * 29 // 2, "most": 30 * 29 // 2}
    assert connect["quiet"] is True
    assert 0 < connect["fanout_s"] <= connect["settled_s"]


@pytest.mark.slow
async def test_a_connect_storm_on_two_nodes_of_a_cluster_ends_with_every_client_knowing_every_other(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    # 60 concurrent connects, the first 10 (the senders) to the other node: the log reader
    # applies arrivals in batches, so some clients learn of each other from their `users`
    # lists and fewer `user:join`s than N(N-1)/2 arrive (884 of 1,770 in a bench run).
    one, other = await start_nodes(start_server, redis.url, 2)
    report = await run_loadtest(
        one.url,
        *("--send-url", other.url, "-c", "60", "-d", "0", "--connect-concurrency", "60"),
    )
    connect = report["connect"]
    assert (connect["connected"], connect["failed"]) == (60, 0)
    assert connect["acquaintances"] == {
        "clients": 60,
        "knowing_everyone": 60,
        "missing": 0,
        "twice": 0,
    }
    assert connect["joins"]["delivered"] <= connect["joins"]["most"] == 60 * 59 // 2
    assert 0 < connect["fanout_s"] <= connect["settled_s"]


def listed(number: int, tag: bytes = b"ab") -> bytes:
    """A user as `users` and `user:join` name them (the load test's usernames)."""
    return b'{"userId":"u%d","username":"lt%s-%d","connected":true}' % (number, tag, number)


def test_a_client_knows_the_others_from_its_users_list_then_from_the_joins() -> None:
    known = Acquaintances(Usernames("ab"), 1, 4)
    known.learn(b'42["session",' + listed(1) + b"]")  # not about the others
    # Itself, and a user of another run with the same number as one of this run's.
    known.learn(b'42["users",[' + listed(0) + b"," + listed(1) + b"," + listed(3, b"zz") + b"]]")
    assert (known.greeted, known.known, known.missing, known.twice) == (True, 1, 2, 0)
    known.learn(b'42["users",[' + listed(2) + b"]]")  # only the greeting's list counts
    assert known.missing == 2
    known.learn(b'42["user:join",' + listed(2) + b"]")
    assert known.knew_everyone_at is None
    known.learn(b'42["user:join",' + listed(3) + b"]")
    assert (known.missing, known.twice) == (0, 0)
    assert known.knew_everyone_at is not None
    known.learn(b'42["user:join",' + listed(0) + b"]")  # told again
    known.learn(b'42["user:join",' + listed(9) + b"]")  # not one of the run's 4 clients
    known.learn(b'42["user:join",{"username":"ltab-2x"}]')  # a name like theirs, not theirs
    assert (known.known, known.missing, known.twice) == (3, 0, 1)


# --- counting frames by their headers (the bulk clients) ---------------------------------------

PREFIX = loadtest.DELIVERY_PREFIX
JOIN = JOIN_PREFIX


def delivery(size: int) -> bytes:
    """A ``message:channel`` packet of exactly ``size`` bytes (at least the prefix)."""
    return PREFIX + b"x" * (size - len(PREFIX))


def counted_in_pieces(data: bytes, cuts: list[int]) -> tuple[FrameCounter, list[int], list[bytes]]:
    """Feed ``data`` cut at ``cuts``, each piece at the start of a larger reused buffer with
    stale bytes after it (as ``recv_into`` leaves it); the counter, its summed counts and
    the `users` and `user:join` messages it handed over whole."""
    kept: list[bytes] = []
    counter = FrameCounter(PREFIX, JOIN, PREFIXES, kept.append)
    totals = [0, 0, 0, 0]
    bounds = [0, *sorted(set(cuts)), len(data)]
    for start, end in itertools.pairwise(bounds):
        buffer = bytearray(data[start:end] + server_frame(delivery(40)) * 2)
        for index, count in enumerate(counter.feed(buffer, end - start)):
            totals[index] += count
    return counter, totals, kept


@pytest.mark.parametrize("size", [len(PREFIX), 125, 126, 65535, 65536, 70_000])
def test_the_counter_reads_every_length_form_however_the_stream_is_cut(size: int) -> None:
    # 7-bit lengths up to 125, 16-bit up to 65535, 64-bit beyond.
    stream = server_frame(delivery(size)) + server_frame(b"2") + server_frame(b'42["user:join"]')
    stream += server_frame(JOIN + b"{}]")
    edges = [*range(0, 40), *range(len(stream) - 40, len(stream)), len(stream) // 2]
    for cut in edges:
        counter, totals, kept = counted_in_pieces(stream, [cut])
        assert totals == [4, 3, 1, 1], cut
        assert kept == [JOIN + b"{}]"]
        assert counter.pings == 1
        assert not counter.closed


@given(
    st.lists(
        st.one_of(
            st.integers(len(PREFIX), 400).map(lambda size: (delivery(size), 0x1)),
            st.integers(0, 40).map(lambda size: (JOIN + b"z" * size, 0x1)),
            # A `users` list, in each length form, and a binary message that looks like one.
            st.integers(0, 70_000).map(lambda size: (USERS_PREFIX + b"u" * size, 0x1)),
            st.just((USERS_PREFIX + b"[]]", 0x2)),
            # Shorter than either prefix, or the start of one cut short.
            st.integers(1, len(JOIN)).map(lambda size: (JOIN[:size], 0x1)),
            st.integers(0, 300).map(lambda size: (b"4" + b"y" * size, 0x1)),
            st.just((b"2", 0x1)),
            st.binary(max_size=200).map(lambda payload: (payload, 0x2)),
            st.binary(max_size=125).map(lambda payload: (payload, 0x9)),
        ),
        max_size=30,
    ),
    st.lists(st.integers(0, 12_000), max_size=40),
)
def test_the_counter_counts_what_a_full_parse_finds(
    frames: list[tuple[bytes, int]], cuts: list[int]
) -> None:
    stream = b"".join(server_frame(payload, opcode) for payload, opcode in frames)
    counter, totals, kept = counted_in_pieces(stream, [cut for cut in cuts if cut < len(stream)])
    parsed, used = wire.parse_frames(bytearray(stream))
    assert used == len(stream)
    messages = [payload for first, payload in parsed if first & 0x0F in (0x1, 0x2)]
    assert totals == [
        len(messages),
        sum(1 for payload in messages if payload.startswith(b"4")),
        sum(1 for payload in messages if payload.startswith(PREFIX)),
        sum(1 for payload in messages if payload.startswith(JOIN)),
    ]
    assert counter.pings == messages.count(b"2")
    assert counter.ws_pings == [payload for first, payload in parsed if first & 0x0F == 0x9]
    assert kept == [
        payload for first, payload in parsed if first & 0x0F == 0x1 and payload.startswith(PREFIXES)
    ]


@pytest.mark.parametrize(
    "frame",
    [server_frame(b"\x03\xe8", 0x8), server_frame(b"1"), server_frame(b"41"), server_frame(b"41/")],
)
def test_the_counter_sees_the_server_end_the_connection(frame: bytes) -> None:
    counter = FrameCounter(PREFIX)
    counter.feed(server_frame(delivery(50)) + frame)
    assert counter.closed is (frame != server_frame(b"41/"))


def test_the_counter_refuses_a_masked_frame() -> None:
    with pytest.raises(wire.WireError):
        FrameCounter(PREFIX).feed(b"\x81\x85abcd12345")


async def test_the_bulk_receiver_counts_a_socket_answers_its_pings_and_sees_it_close() -> None:
    ours, theirs_plain = socket.socketpair()
    ours.setblocking(False)
    theirs = trio.socket.from_stdlib_socket(theirs_plain)
    stream = b"".join(server_frame(delivery(size)) for size in (30, 126, 70_000))
    stream += server_frame(b"2") + server_frame(b"ping!", 0x9) + server_frame(JOIN + b"{}]")
    receiver = BulkReceiver(PREFIX, interval=0.001, second_prefix=JOIN)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver.run)
        # Some of it read before the hand-over, the rest in pieces.
        closed = receiver.add(ours, stream[:5])
        for start in range(5, len(stream), 7000):
            await theirs.send(stream[start : start + 7000])
        await wait_until(lambda: receiver.second_matches == 1)
        assert receiver.matches == 3
        assert receiver.second_at is not None
        answers = bytearray()
        # A masked "3" (2 + 4 + 1 bytes) and a masked pong echoing "ping!" (2 + 4 + 5).
        with trio.fail_after(5):
            while len(answers) < 18:
                answers += await theirs.recv(1000)
        frames = parse_masked(bytes(answers))
        assert frames == [(0x81, b"3"), (0x8A, b"ping!")]
        assert (receiver.messages, receiver.packets) == (5, 4)  # the ping is a message
        assert not closed.is_set()
        await theirs.send(server_frame(b"41"))
        with trio.fail_after(5):
            await closed.wait()
        assert len(receiver) == 0
        nursery.cancel_scope.cancel()
    theirs.close()


def parse_masked(data: bytes) -> list[tuple[int, bytes]]:
    """Client frames as (first byte, unmasked payload), for short frames (7-bit lengths)."""
    frames = []
    while data:
        length = data[1] & 0x7F
        key, body = data[2:6], data[6 : 6 + length]
        frames.append((data[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))))
        data = data[6 + length :]
    return frames


# --- the timed sample and the count checks ----------------------------------------------------


def test_the_timed_sample_is_spread_over_the_room() -> None:
    assert loadtest.sample_positions(1000, 50) == set(range(10, 1000, 20))
    assert loadtest.sample_positions(100, 10) == set(range(5, 100, 10))
    assert loadtest.sample_positions(3, 10) == {0, 1, 2}
    assert loadtest.sample_positions(10, 0) == set()


def test_the_default_sample_is_50_at_most_a_tenth_of_the_clients() -> None:
    assert loadtest.parse_args(["-c", "1000"]).sample == 50
    assert loadtest.parse_args(["-c", "100"]).sample == 10
    assert loadtest.parse_args(["-c", "5", "-s", "1"]).sample == 1
    assert loadtest.parse_args(["-c", "100", "--sample", "100"]).sample == 100


def test_mismatched_counts_are_reported_and_fail_the_phase() -> None:
    result = loadtest.merge_phase_results(
        [
            part(
                sent=10,
                members=3,
                delivered=30,
                sample_members=1,
                sample_delivered=10,
                bulk_members=2,
                bulk_delivered=20,
                packets=40,
            )
        ]
    )
    result.update(delivery_ratio=1.0, planned=10)
    assert loadtest.count_errors(result, 40) == []
    assert loadtest.count_errors(result, None) == []
    result["count_errors"] = loadtest.count_errors(result, 43)
    assert result["count_errors"] == [
        "the server sent 43 frames, the clients received 40 Socket.IO packets (+3)"
    ]
    assert loadtest.phase_holds(result) is False
    # The bulk clients counting more than was sent to them is a counting error too.
    result["bulk_delivered"] = 21
    assert loadtest.count_errors(result, 40) == [
        "bulk clients counted 21 deliveries, at most 20 sent"
    ]
    result["held"] = False
    report = {
        "url": "http://x",
        "clients": 3,
        "procs": 1,
        "handshake": "socketio",
        "transport": "raw",
        "connect": {
            "connected": 3,
            "clients": 3,
            "time_s": 0.1,
            "per_s": 30,
            "failed": 0,
            "settled_s": 0.2,
            "latency_ms": {},
        },
        "phases": [{**result, "server_frames": 43}],
        "result": result,
    }
    assert "  MISMATCH   the server sent 43 frames" in loadtest.format_report(report)


def test_server_metrics_are_read_from_the_prometheus_page() -> None:
    page = (
        b"# HELP minidiscord_frames_delivered_total encoded frames\n"
        b"# TYPE minidiscord_frames_delivered_total counter\n"
        b"minidiscord_frames_delivered_total 1.234e+06\n"
        b"minidiscord_frames_delivered_created 1.7e+09\n"
    )
    counts = servermetrics.parse_counts(page)
    assert counts.frames == 1_234_000
    assert counts.rounds is None
    assert servermetrics.parse_counts(b"other_total 3\n") == servermetrics.ServerCounts()
    rounds = servermetrics.parse_counts(
        page
        + b"minidiscord_direct_write_rounds_total 7.0\n"
        + b"minidiscord_direct_write_clients_total 7000.0\n"
    )
    assert rounds == servermetrics.ServerCounts(1_234_000, 7, 7000)
    later = servermetrics.ServerCounts(1_300_000, 9, 9000)
    assert later.since(rounds) == servermetrics.ServerCounts(66_000, 2, 2000)
    assert later.since(servermetrics.ServerCounts()) == servermetrics.ServerCounts()
    assert rounds.plus(later) == servermetrics.ServerCounts(2_534_000, 16, 16000)


def check_counted_by_the_server(result: dict[str, Any]) -> None:
    assert result["server_frames"] is not None
    assert result["server_frames"] == result["packets"]
    # Each message to every member, and an ack to its sender.
    assert result["packets"] >= result["sent"] * (result["members"] + 1)


@pytest.mark.slow
async def test_most_clients_count_in_bulk_what_the_server_says_it_sent(
    server: RunningServer,
) -> None:
    report = await run_loadtest(
        server.url,
        *("-c", "40", "-s", "3", "-r", "10", "-d", "1", "--sample", "5", "--drain", "20"),
    )
    check_report(report, clients=40, procs=1)
    [result] = report["phases"]
    assert result["timed_members"] == 5
    assert result["bulk_members"] >= 40 - 5 - 3
    check_counted_by_the_server(result)
    # Either front end wrote them in rounds (direct writes over plain TCP), one write per
    # client at most per round.
    assert 0 < result["server_rounds"] <= result["server_round_writes"] <= result["packets"]


@pytest.fixture
def frame_floor_url() -> Iterator[str]:
    """scripts/floor_frames.py in a subprocess."""
    port = free_port()
    command = script_args("floor_frames", "--port", str(port))
    with running(command, port, probe=HANDSHAKE, stdout=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
async def test_the_frame_floor_serves_the_load_generator(frame_floor_url: str) -> None:
    report = await run_loadtest(
        frame_floor_url,
        *("-c", "60", "-s", "4", "-r", "20", "-d", "1", "--drain", "20", "--procs", "2"),
    )
    check_report(report, clients=60, procs=2)
    [result] = report["phases"]
    assert result["bulk_members"] > 0
    check_counted_by_the_server(result)


@pytest.mark.slow
async def test_frames_the_load_clients_did_not_get_are_reported(server: RunningServer) -> None:
    # Someone else in the channel: the server sends them every message too, which the
    # load generator's clients cannot account for.
    host, port, target = wire.split_url(server.url)
    outsider = await wire.LeanWebSocket.connect(host, port, target)
    try:
        await outsider.receive_frames()  # the Engine.IO open
        await outsider.send_text('40{"username":"outsider"}')
        frames: list[bytes] = []
        while not any(frame.startswith(b"40") for frame in frames):
            frames = await outsider.receive_frames()
        report = await run_loadtest(
            server.url, *("-c", "4", "-s", "1", "-r", "10", "-d", "1", "--drain", "20")
        )
    finally:
        await outsider.aclose()
    [result] = report["phases"]
    assert result["delivered"] == result["expected"]
    assert result["server_frames"] == result["packets"] + result["sent"]
    assert result["count_errors"] == [
        f"the server sent {result['server_frames']} frames, the clients received "
        f"{result['packets']} Socket.IO packets (+{result['sent']})"
    ]
    assert result["held"] is False


def test_the_benchmark_notes_counts_that_do_not_match() -> None:
    phases = [
        {"rate": 2.0, "deliveries_per_s": 10.0, "count_errors": []},
        {"rate": 4.0, "deliveries_per_s": 20.0, "count_errors": ["the server sent 9 frames"]},
    ]
    notes = bench.noise_notes({"ours": {"ramp100": {"phases": phases}}})
    assert notes == ["ours ramp100: counts do not match at 4/s: the server sent 9 frames"]


def test_a_benchmark_target_can_say_limits_off() -> None:
    # The word stands for every limits-off option; literally, the server refused to start.
    target = bench.parse_target(
        f"ours=cmd:{sys.executable} -m minidiscord --port {{port}} LIMITS_OFF --store memory"
    )
    assert target.command is not None
    assert "LIMITS_OFF" not in target.command
    start = target.command.index("{port}") + 1
    assert target.command[start : start + len(UNLIMITED)] == UNLIMITED
    with bench.running_target(target, []) as (url, pid):
        assert url.startswith("http://127.0.0.1:")
        assert pid is not None


def test_a_worker_whose_coordinator_is_gone_ends_quietly() -> None:
    """Stopped with its coordinator (scripts/memory_profile.py terminates it), a worker
    finds its reports' pipe broken: it ends with the coordinator, without a traceback."""
    worker = subprocess.Popen(
        script_args("loadtest", "--worker"),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None
    assert worker.stdout is not None
    assert worker.stderr is not None
    # Nobody reads its reports any more; its goodbye is the first thing it writes.
    worker.stdout.close()
    worker.stdin.write(b'{"op": "quit"}\n')
    worker.stdin.close()
    errors = worker.stderr.read()
    assert worker.wait(timeout=30) == 0, errors.decode()
    assert b"Traceback" not in errors
