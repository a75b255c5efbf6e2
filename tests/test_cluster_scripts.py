"""The cluster's measuring scripts: bench's stores, cluster_bench's Redis accounting and the
failover script (short real runs; the figures themselves are not judged)."""

import json
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchkit.processes import ROOT, script_args
from scripts.bench import store_options
from scripts.cluster_bench import (
    RedisSnapshot,
    Sampler,
    combine,
    latency_events,
    less,
    let_in,
    redis_command,
    summarize_hop,
)
from scripts.failover import DISCONNECT_GRACE
from scripts.loadtest import message_text
from scripts.stage_attribution import NodeTrace, attribute, pauses
from tests.support.redisserver import RedisServer
from tests.support.requirements import unavailable


def need_redis() -> None:
    if shutil.which("redis-server") is None:
        unavailable("the cluster scripts", "redis-server is not installed")


def send(port: int, *commands: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        for command in commands:
            connection.sendall(command + b"\r\n")
            assert connection.recv(256)


# --- bench.py's stores ---------------------------------------------------------------------


def test_each_store_gets_a_fresh_backing_for_its_run() -> None:
    need_redis()
    with store_options("memory") as options:
        assert options == ["--store", "memory"]
    with store_options("sqlite") as options:
        flag, kind, db, path = options
        assert (flag, kind, db) == ("--store", "sqlite", "--db")
        assert not Path(path).exists()  # the server makes it
        sqlite3.connect(path).close()
    assert not Path(path).parent.exists()
    with store_options("redis") as options:
        flag, url = options
        assert flag == "--redis-url"
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        send(port, b"PING")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- cluster_bench's accounting ------------------------------------------------------------


async def test_a_snapshot_difference_counts_the_chats_commands_and_not_its_own(
    redis: RedisServer,
) -> None:
    assert redis.process is not None
    before = RedisSnapshot.take(redis.port, redis.process.pid)
    send(redis.port, b"SET a 1", b"SET b 2", b"INCR c")
    after = RedisSnapshot.take(redis.port, redis.process.pid)
    delta = after.minus(before)
    assert delta["calls"] == {"set": 2, "incr": 1}
    assert delta["total_commands_processed"] == 3
    assert delta["total_net_input_bytes"] > 0
    assert delta["total_net_output_bytes"] > 0


def counters(seconds: float, calls: dict[str, float], **stats: float) -> dict[str, Any]:
    return {"seconds": seconds, "calls": calls, **stats}


def test_the_idle_cost_is_taken_off_for_as_long_as_the_run_took() -> None:
    run = counters(10.0, {"xread": 50, "evalsha": 30}, total_net_input_bytes=5000.0)
    idle = counters(1.0, {"xread": 2, "get": 1}, total_net_input_bytes=100.0)
    assert less(run, idle) == counters(
        10.0, {"xread": 30, "evalsha": 30, "get": -10}, total_net_input_bytes=4000.0
    )


def test_combine_weighs_every_counter() -> None:
    a = counters(2.0, {"set": 4}, cpu_s=1.0)
    b = counters(4.0, {"set": 2, "get": 8}, cpu_s=3.0)
    assert combine(a, b, 0.5, 0.5) == counters(3.0, {"set": 3, "get": 4}, cpu_s=2.0)


def test_the_sampled_window_is_covered_by_the_samples_around_it() -> None:
    def snapshot(at: float, sets: int) -> tuple[float, RedisSnapshot]:
        stats = dict.fromkeys(
            (
                "total_commands_processed",
                "total_reads_processed",
                "total_writes_processed",
                "total_net_input_bytes",
                "total_net_output_bytes",
            ),
            sets + 2,  # room for the two INFOs minus() takes off
        )
        return at, RedisSnapshot(at, {"set": sets}, stats, 0.0)

    sampler = Sampler(lambda: snapshot(0, 0)[1])
    sampler.samples = [snapshot(1.0, 0), snapshot(2.0, 5), snapshot(3.0, 9), snapshot(4.0, 20)]
    # From the last sample at or before the start to the first at or after the end.
    assert sampler.between(2.5, 3.5)["calls"] == {"set": 15}
    assert sampler.between(2.0, 3.0)["calls"] == {"set": 4}


def hop_run(members: int, connect_failed: int) -> dict[str, Any]:
    return {
        "appendfsync": "always",
        "load_average": 1.0,
        "clients": 100,
        "members": members,
        "connect_failed": connect_failed,
        "deliveries_per_s": 1100.0,
        "delivery_ratio": 1.0,
        "p50_ms": 2.0,
        "p99_ms": 9.0,
        "node_b_cpu_us_per_delivery": 40.0,
        "node_a_cpu_us_per_message": 300.0,
    }


def test_the_hop_summary_says_how_many_clients_were_members() -> None:
    # A run whose clients were refused at connect measured fewer receivers than asked for.
    everysec = {**hop_run(11, 89), "appendfsync": "everysec"}
    _, full, short = summarize_hop({"cross": [hop_run(100, 0), everysec]})
    assert full.split()[:4] == ["cross", "always", "1.00", "100/100"]
    assert short.split()[1:4] == ["everysec", "1.00", "11/100"]


def test_the_hop_summary_shows_a_figure_a_run_could_not_give_as_a_dash() -> None:
    # One member, the lone sender: nothing to deliver to anyone else, no latency.
    lone = {**hop_run(1, 99), "delivery_ratio": None, "p50_ms": None, "p99_ms": None}
    _, line = summarize_hop({"same": [{**lone, "node_a_cpu_us_per_message": None}]})
    assert line.split()[3:8] == ["1/100", "1,100", "-", "-", "-"]


def test_a_run_with_clients_refused_says_so_and_one_with_nobody_in_has_no_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = ['WireError(\'CONNECT refused: 44{"message":"try again later"}\')']
    some = {
        "connect": {"clients": 100, "failed": 89, "failures": refused},
        "result": {"members": 11},
    }
    assert let_in(some, "hop cross") is True
    said = capsys.readouterr().err
    assert "hop cross: 89 of 100 clients were refused at connect (11 members" in said
    assert "try again later" in said
    nobody = {"connect": {"clients": 100, "failed": 100, "failures": refused}}
    assert let_in(nobody, "hop same") is False
    assert "hop same: nobody was let in; no figures" in capsys.readouterr().err
    everyone = {
        "connect": {"clients": 100, "failed": 0, "failures": []},
        "result": {"members": 100},
    }
    assert let_in(everyone, "hop same") is True
    assert capsys.readouterr().err == ""


# --- the failover script -------------------------------------------------------------------


@pytest.mark.slow
def test_a_short_failover_run_reports_each_node_timeout() -> None:
    need_redis()
    command = script_args("failover", "--runs", "2", "--node-timeouts", "1", "--json")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    report = json.loads(done.stdout)
    times = report["1"]["times_s"]
    assert len(times) == 2
    # user:disconnect came only after the kill, and before the script's own bound.
    assert all(0 < value < DISCONNECT_GRACE + 60 for value in times)
    assert report["1"]["min_s"] <= report["1"]["median_s"] <= report["1"]["max_s"]


async def test_redis_command_decodes_replies_and_latency_events_are_read(
    redis: RedisServer,
) -> None:
    assert redis_command(redis.port, "SET", "k", "v") == "OK"
    assert redis_command(redis.port, "GET", "k") == "v"
    assert redis_command(redis.port, "GET", "nothing") is None
    assert redis_command(redis.port, "INCR", "n") == 1
    assert redis_command(redis.port, "MGET", "k", "nothing") == ["v", None]
    with pytest.raises(RuntimeError, match="redis refused: ERR"):
        redis_command(redis.port, "NO-SUCH-COMMAND")
    assert latency_events(redis.port) == {}
    redis_command(redis.port, "CONFIG", "SET", "latency-monitor-threshold", "1")
    # A script that keeps Redis's thread busy for some milliseconds: a "command" event.
    busy = "local x = 0 for i = 1, 5000000 do x = x + i end return 1"
    assert redis_command(redis.port, "EVAL", busy, "0") == 1
    assert latency_events(redis.port)["command"] >= 1


# --- the stage attribution -----------------------------------------------------------------


def trace(stages: dict[int, dict[str, float]], texts: dict[int, float], **more: Any) -> NodeTrace:
    return NodeTrace(
        stages=stages,
        texts={n: message_text("p", sent, 0, n, 40) for n, sent in texts.items()},
        gc=pauses(more.get("gc_pauses", [])),
    )


def test_the_slowest_messages_segments_add_up_and_name_where_the_time_went() -> None:
    # 100 messages, each 1 ms per segment; number 50 waited 30 ms more for Redis.
    sender_stages, receiver_stages, sent = {}, {}, {}
    for n in range(100):
        t = 100.0 + n * 0.01
        stall = 0.030 if n == 50 else 0.0
        sent[n] = t
        sender_stages[n] = {"received": t + 0.001, "issued": t + 0.002, "acked": t + 0.003 + stall}
        receiver_stages[n] = {"read": t + 0.003 + stall, "shown": t + 0.004 + stall}
    pause = [100.5, 0.002, 0, 0.0015]  # during number 50's path
    sender = trace(sender_stages, sent)
    receiver = trace(receiver_stages, {}, gc_pauses=[pause])
    found = attribute(sender, receiver, (100.0, 101.0))
    assert found is not None
    assert (found["messages"], found["slowest"]) == (100, 1)
    segments = found["segments"]
    assert segments["stored and read back"]["slowest_median_ms"] == pytest.approx(31.0)
    assert segments["to the sender's node"]["slowest_median_ms"] == pytest.approx(1.0)
    assert segments["sent to shown"]["max_ms"] == pytest.approx(34.0)
    assert segments["sent to shown"]["p50_ms"] == pytest.approx(4.0)
    assert found["slowest_with_a_gc_pause"] == 1
    assert found["gc_receiver"] == {
        "count": 1,
        "max_ms": 2.0,
        "max_generation": 0,
        "max_cpu_ms": 1.5,
        "total_ms": 2.0,
    }
    assert found["gc_sender"]["count"] == 0
    assert found["slowest_longest_segment"] == {"stored and read back": 1}
    assert found["slowest_in_an_fsync_stall"] is None
    # Redis fsynced for 20 ms in that second: more than half of number 50's 31 ms.
    stalled = attribute(sender, receiver, (100.0, 101.0), {100: 20})
    assert stalled is not None
    assert stalled["slowest_in_an_fsync_stall"] == 1
    calm = attribute(sender, receiver, (100.0, 101.0), {100: 2, 99: 30})
    assert calm is not None
    assert calm["slowest_in_an_fsync_stall"] == 0
    # Outside the window, or not yet shown on the receivers' node: not counted.
    assert attribute(sender, receiver, (200.0, 201.0)) is None
    assert attribute(sender, trace({}, {}), (100.0, 101.0)) is None
