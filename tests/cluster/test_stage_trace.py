"""The stage trace of a measurement run (``minidiscord.chat.stages``): off by default; on,
every message's stages are stamped in the order they happen, on the sender's node and on
each node that shows it, and a node process writes them when it stops."""

import gc
import signal
import time
from pathlib import Path

import pytest
import trio

from benchkit.processes import free_port
from minidiscord.chat import stages
from minidiscord.chat.stages import STAGES, StageTrace
from scripts.loadtest import message_text
from scripts.stage_attribution import NodeTrace, attribute
from tests.support.chatclient import ChatClient
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes


async def test_a_node_stamps_every_stage_of_a_message_in_order(
    redis: RedisServer,
    start_server: ServerFactory,
    nursery: trio.Nursery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace = StageTrace(tmp_path / "stages.json")
    monkeypatch.setattr(stages, "trace", trace)
    (node,) = await start_nodes(start_server, redis.url, 1)
    client = ChatClient(node.url, "tracer", nursery=nursery)
    await client.connect({"username": "tracer"})
    ack = await client.send("general", "traced")
    message_id = ack["id"]
    t = trace.stages[message_id]
    assert set(t) == set(STAGES)
    # Redis may answer the reader's XREAD before the writer reads its own reply: "read"
    # and "acked" come in either order, both after the write was issued.
    assert t["received"] <= t["issued"] <= t["acked"] <= t["ack"]
    assert t["issued"] <= t["read"] <= t["shown"] <= t["ack"]
    assert trace.texts[message_id] == "traced"
    await client.close()


def test_tracing_is_off_unless_asked_for_and_records_gc_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stages.trace is None
    monkeypatch.delenv(stages.ENV, raising=False)
    stages.start_from_env()
    assert stages.trace is None
    trace = StageTrace(tmp_path / "stages.json")
    trace.gc.install()
    try:
        gc.collect()
    finally:
        trace.gc.remove()
    assert trace.gc.pauses
    assert trace.gc.pauses[-1].generation == 2
    assert trace.gc.pauses[-1].cpu_seconds >= 0.0
    assert trace.gc.summary()["count"] == len(trace.gc.pauses)
    trace.mark(7, "received", 1.5)
    trace.text(7, "hello")
    trace.write()
    written = NodeTrace.load(trace.path)
    assert written.stages == {7: {"received": 1.5}}
    assert written.texts == {7: "hello"}
    assert written.gc.pauses == trace.gc.pauses


@pytest.mark.slow
async def test_node_processes_write_their_traces_when_they_stop(
    redis: RedisServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    env = {stages.ENV: str(tmp_path)}
    options = ("--redis-url", redis.url)
    async with (
        cli_server(free_port(), *options, env=env) as a,
        cli_server(free_port(), *options, env=env) as b,
    ):
        sender = ChatClient(a.url, "sender", nursery=nursery)
        await sender.connect({"username": "sender"})
        receiver = ChatClient(b.url, "receiver", nursery=nursery)
        await receiver.connect({"username": "receiver"})
        sent_at = trio.current_time()
        text = message_text("p", time.time(), 0, 0, 40)
        ack = await sender.send("general", text)
        await receiver.wait_for(
            "message:channel", lambda _channel, m, *_offset: m["id"] == ack["id"]
        )
        for node in (a, b):
            node.process.send_signal(signal.SIGTERM)
            with trio.fail_after(20):
                await node.process.wait()
        assert trio.current_time() - sent_at < 60
    on_a, on_b = (NodeTrace.load(tmp_path / f"stages-{n.process.pid}.json") for n in (a, b))
    assert on_a.texts == {ack["id"]: text}
    assert set(on_b.stages[ack["id"]]) == {"read", "shown"}
    found = attribute(on_a, on_b, (0.0, float("inf")))
    assert found is not None
    assert found["messages"] == 1
    segments = found["segments"]
    whole = segments["sent to shown"]["max_ms"]
    parts = sum(
        segments[name]["max_ms"]
        for name in (
            "to the sender's node",
            "waiting for the writer",
            "stored and read back",
            "applied",
        )
    )
    assert parts == pytest.approx(whole, abs=0.01)
