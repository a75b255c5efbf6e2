"""Operating the server: health, metrics, JSON logs and a graceful shutdown that clients survive."""

import json
import logging
import signal
import subprocess
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
from prometheus_client.parser import text_string_to_metric_families

from benchkit.processes import free_port
from minidiscord.logs import JSONFormatter
from tests.support.processes import CliServer, cli_server
from tests.support.rawclient import raw_websocket
from tests.support.servers import RunningServer
from tests.support.waiting import wait_until


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def _metrics(http: httpx.AsyncClient, server: RunningServer) -> dict[Any, float]:
    response = await http.get(server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_healthz_is_200_when_serving_and_503_when_draining(server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(server.url + "/healthz")
        assert response.status_code == 200
        await server.app.engine.drain(timeout=1)
        response = await http.get(server.url + "/healthz")
        assert response.status_code == 503
        # A draining server takes no new sessions either.
        refused = await http.get(server.url + "/socket.io/?EIO=4&transport=polling")
        assert refused.status_code == 503


async def test_metrics_move_with_traffic(server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        before = await _metrics(http, server)
        assert before[("minidiscord_connected_clients", ())] == 0
        async with raw_websocket(server.ws_url) as alice, raw_websocket(server.ws_url) as bob:
            for client in (alice, bob):
                await client.send('40{"username":"metered"}')
            for client in (alice, bob):
                while not (await client.text()).startswith('42["users"'):
                    pass
            await alice.send('421["message:channel:send","general","counted"]')
            while not (await alice.text()).startswith("431"):
                pass
            during = await _metrics(http, server)
            assert during[("minidiscord_connected_clients", ())] == 2
            await alice.send("4garbage")
            await wait_until(lambda: alice.sid not in server.app.engine.sessions)
        after = await _metrics(http, server)
    events = ("minidiscord_events_received_total", ())
    assert during[events] - before.get(events, 0) == 1
    messages = ("minidiscord_chat_messages_total", ())
    assert during[messages] - before.get(messages, 0) == 1
    delivered = ("minidiscord_frames_delivered_total", ())
    # session, channels, users for each, bob's user:join to alice, the message to both,
    # and the ack to alice.
    assert during[delivered] - before.get(delivered, 0) >= 3 * 2 + 1 + 2 + 1
    assert after[("minidiscord_rejected_total", (("reason", "parse error"),))] == 1
    assert during[("minidiscord_fanout_seconds_count", ())] >= 2
    assert ("minidiscord_store_commit_seconds_count", ()) in during


def test_json_log_lines_are_objects() -> None:
    record = logging.LogRecord(
        "minidiscord.engine", logging.INFO, __file__, 1, "hi %s", ("x",), None
    )
    line = JSONFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["logger"] == "minidiscord.engine"
    assert entry["message"] == "hi x"


def _server_process(port: int) -> AbstractAsyncContextManager[CliServer]:
    options = ("--store", "memory", "--ping-interval", "2", "--ping-timeout", "2")
    return cli_server(port, *options, unlimited=False)


NODE_DIR = Path(__file__).parent / "node"


class NodeClient:
    """node's socket.io-client (the reference) in a subprocess, reporting JSON lines."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.lines: list[dict[str, Any]] = []

    async def run(self, url: str, *, task_status: trio.TaskStatus[None]) -> None:
        process = await trio.lowlevel.open_process(
            ["node", str(NODE_DIR / "reconnect.mjs"), url, self.transport, "2"],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        buffered = b""
        started = False
        try:
            async for chunk in process.stdout:
                buffered += chunk
                *complete, buffered = buffered.split(b"\n")
                for line in complete:
                    self.lines.append(json.loads(line))
                    if not started:
                        started = True
                        task_status.started()
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
        assert process.returncode == 0, self.lines

    def events(self) -> list[str]:
        return [
            line["event"] + (f":{line['reason']}" if "reason" in line else "")
            for line in self.lines
        ]


@pytest.mark.skipif(
    not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
    reason="node's socket.io-client is not installed (make test installs it)",
)
@pytest.mark.slow
async def test_sigterm_closes_clients_cleanly_and_they_come_back() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clients = [NodeClient("websocket"), NodeClient("polling")]
    async with trio.open_nursery() as nursery:
        async with _server_process(port) as server:
            for client in clients:
                await nursery.start(client.run, url)
            server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(20):
                await server.process.wait()
            assert server.process.returncode == 0
        for client in clients:
            await wait_until(lambda c=client: len(c.lines) >= 2, timeout=10)  # type: ignore[misc]
            # A transport close, not a Socket.IO disconnect: the clients reconnect.
            assert client.events()[:2] == ["connect", "disconnect:transport close"], (
                client.transport,
                client.lines,
            )
        async with _server_process(port):
            await wait_until(
                lambda: all(client.events().count("connect") == 2 for client in clients),
                timeout=20,
            )


@pytest.mark.parametrize("level", ["warning"])
def test_log_level_option_is_applied(level: str) -> None:
    from minidiscord.logs import configure

    configure(level, "text")
    assert logging.getLogger().level == logging.WARNING
    configure("info", "text")
