"""``--workers``: a real parent and real worker processes on one port, with real clients.

Every session's requests must reach the worker that holds it (no "Session ID unknown", no
400) for long-polling clients of three implementations, through the upgrade to WebSocket
and across a kept-alive connection that carries requests for sessions of two workers; a
killed worker is replaced and its clients reconnect; SIGTERM drains and exits 0; a reason
not to start is one line. The app is a standalone SocketServer (tests/support/sticky_app.py):
the routing does not depend on the chat's cluster mode.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import socketio
import trio

from benchkit.processes import ROOT, free_port
from minidiscord.client import Client
from tests.support.nodeclient import run_node
from tests.support.waiting import wait_until
from tests.support.workers import sid_worker, workers_command, workers_server

pytestmark = pytest.mark.slow

ROUNDS = 4
WAIT = 10.0


@dataclass
class Report:
    kind: str
    sid: str
    pids: list[int]
    transport: str | None = None


def check_sticky(reports: list[Report], workers: int = 2) -> dict[str, int]:
    """Each client was answered by one process, the one its session id names; returns
    the pid of each worker number."""
    pid_of: dict[str, int] = {}
    for report in reports:
        assert len(set(report.pids)) == 1, report
        number = sid_worker(report.sid)
        assert pid_of.setdefault(number, report.pids[0]) == report.pids[0], report
    assert sorted(pid_of) == [str(n) for n in range(workers)], "new sessions go to every worker"
    assert len(set(pid_of.values())) == workers
    return pid_of


def check_log(log: Path) -> None:
    text = log.read_text()
    assert "refused" not in text, text
    assert "Session ID unknown" not in text, text
    assert "Traceback" not in text, text


async def trio_client(url: str, index: int, transports: tuple[str, ...]) -> Report:
    client = Client(transports=transports, reconnection=False)
    async with client.connect(url) as sio:
        pids = []
        for round_ in range(ROUNDS):
            (who,) = await sio.call("whoami", timeout=WAIT)
            pids.append(who["pid"])
            assert await sio.call("echo", index, round_, timeout=WAIT) == [index, round_]
        if "websocket" in transports:
            await wait_until(lambda: client.transport == "websocket", WAIT)
        sid = client.engine_sid
        assert sid is not None
        return Report("trio", sid, pids, client.transport)


def python_clients(url: str, count: int, transports: list[str]) -> list[Report]:
    """python-socketio's asyncio clients, in this (worker) thread's own event loop."""

    async def one(index: int) -> Report:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=transports, wait_timeout=WAIT)
        try:
            pids = []
            for round_ in range(ROUNDS):
                pids.append((await client.call("whoami", timeout=WAIT))["pid"])
                echoed = await client.call("echo", (index, round_), timeout=WAIT)
                assert list(echoed) == [index, round_]
            if "websocket" in transports:
                for _ in range(200):  # bounded: the upgrade takes a round trip or two
                    if client.transport() == "websocket":
                        break
                    await asyncio.sleep(0.05)
            sid = client.eio.sid
            assert isinstance(sid, str)
            return Report("python-socketio", sid, pids, client.transport())
        finally:
            await client.disconnect()

    async def main() -> list[Report]:
        return list(await asyncio.gather(*(one(index) for index in range(count))))

    return asyncio.run(main())


async def node_clients(url: str, count: int, transports: str) -> list[Report]:
    (seen_by_each,) = await run_node(
        "sticky.mjs", url, str(count), transports, str(ROUNDS), timeout=120
    )
    reports = []
    for seen in seen_by_each:
        assert seen["errors"] == [], seen
        assert seen["echoes"] == ROUNDS, seen
        reports.append(Report("node", seen["sid"], seen["pids"], seen["transport"]))
    assert len(reports) == count
    return reports


async def all_clients(url: str, per_kind: int, transports: tuple[str, ...]) -> list[Report]:
    reports: list[Report] = []

    async def trio_one(index: int) -> None:
        reports.append(await trio_client(url, index, transports))

    async def python_all() -> None:
        reports.extend(
            await trio.to_thread.run_sync(python_clients, url, per_kind, list(transports))
        )

    async def node_all() -> None:
        reports.extend(await node_clients(url, per_kind, ",".join(transports)))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for index in range(per_kind):
                nursery.start_soon(trio_one, index)
            nursery.start_soon(python_all)
            nursery.start_soon(node_all)
    assert len(reports) == 3 * per_kind
    return reports


async def test_polling_clients_of_three_kinds_reach_their_sessions_worker(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    async with workers_server(port, log):
        reports = await all_clients(f"http://127.0.0.1:{port}", 6, ("polling",))
    assert {report.transport for report in reports} == {"polling"}
    check_sticky(reports)
    check_log(log)


async def test_clients_upgrade_to_websocket_on_their_sessions_worker(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    async with workers_server(port, log):
        reports = await all_clients(f"http://127.0.0.1:{port}", 4, ("polling", "websocket"))
    assert {report.transport for report in reports} == {"websocket"}
    check_sticky(reports)
    check_log(log)


def _request(method: str, target: str, body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if method == "POST":
        head += f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class KeptAlive:
    """One HTTP/1.1 connection, requests written by hand, answers read in order from it."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, *requests: bytes) -> None:
        """One request, or several in one write (pipelined)."""
        await self.stream.send_all(b"".join(requests))

    async def answer(self) -> tuple[int, dict[bytes, bytes], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            await self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines)
        length = int(headers[b"content-length"])
        while len(self.buffer) < length:
            await self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    async def _more(self) -> None:
        data = await self.stream.receive_some(65536)
        assert data, "the server closed the connection"
        self.buffer += data


async def _session_of_each_worker(url: str) -> dict[str, str]:
    sids: dict[str, str] = {}
    async with httpx.AsyncClient() as http:
        while len(sids) < 2:
            # A connection of its own each time: new connections go to the workers in turn.
            answer = await http.get(
                f"{url}/socket.io/?EIO=4&transport=polling", headers={"Connection": "close"}
            )
            sid = json.loads(answer.text[1:])["sid"]
            sids.setdefault(sid_worker(sid), sid)
    return sids


async def test_a_kept_alive_connection_carries_requests_for_two_workers_sessions(
    tmp_path: Path,
) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    async with workers_server(port, log):
        url = f"http://127.0.0.1:{port}"
        sids = await _session_of_each_worker(url)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        connection = KeptAlive(stream)
        path = "/socket.io/?EIO=4&transport=polling&sid="
        with trio.fail_after(WAIT):
            # A new session first: the worker sees this client's own address, not the
            # parent's (the engine logs it), so per-address limits hold.
            await connection.send(_request("GET", "/socket.io/?EIO=4&transport=polling"))
            status, _, body = await connection.answer()
            assert status == 200, body
            opened = json.loads(body[1:])["sid"]
            client_port = stream.socket.getsockname()[1]
            await wait_until(
                lambda: (
                    f"connect {opened} (polling) from 127.0.0.1:{client_port}" in log.read_text()
                )
            )
            # Alternating workers, one request at a time: each is handed back and re-routed.
            for number in ("0", "1", "0", "1"):
                # A request of no session is answered wherever it lands (this app has
                # nothing there: 404).
                await connection.send(_request("GET", "/healthz"))
                assert (await connection.answer())[0] == 404
                await connection.send(_request("POST", path + sids[number], b"40"))
                status, headers, body = await connection.answer()
                assert (status, body) == (200, b"ok"), (number, body)
                assert headers.get(b"connection") != b"close"
            # Both sessions' CONNECT answers, asked on the same connection, pipelined:
            # the second request is read with the first, and goes back with it.
            await connection.send(
                _request("GET", path + sids["0"]), _request("GET", path + sids["1"])
            )
            first = await connection.answer()
            second = await connection.answer()
        for (status, _, body), number in ((first, "0"), (second, "1")):
            assert status == 200, (number, body)
            assert body.startswith(b"40{"), (number, body)
        await stream.aclose()
    check_log(log)


async def _whoami(client: Client) -> int:
    (who,) = await client.call("whoami", timeout=2)
    pid: int = who["pid"]
    return pid


async def test_a_killed_worker_is_replaced_and_its_clients_reconnect(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    url = f"http://127.0.0.1:{port}"
    async with workers_server(port, log) as parent, trio.open_nursery() as nursery:
        clients = [Client(reconnection_delay=0.1, reconnection_delay_max=0.5) for _ in range(6)]
        for client in clients:
            await nursery.start(_hold, client, url)
        pids = {client: await _whoami(client) for client in clients}
        assert len(set(pids.values())) == 2
        victim = pids[clients[0]]
        os.kill(victim, signal.SIGKILL)
        with trio.fail_after(30):
            for client in clients:
                while True:
                    try:
                        pid = await _whoami(client)
                    except Exception:
                        await trio.sleep(0.1)
                        continue
                    if pid != victim:
                        break
                    await trio.sleep(0.1)  # its reconnection is still on the way
            await wait_until(lambda: "replaced" in log.read_text(), 30)
        # Every client talks again, and new sessions reach both workers, one of them new.
        assert all([await _whoami(client) != victim for client in clients])
        reports = await all_clients(url, 2, ("polling",))
        after = check_sticky(reports)
        assert victim not in after.values()
        assert parent.returncode is None
        nursery.cancel_scope.cancel()
    text = log.read_text()
    assert f"(pid {victim}) exited with status -9; starting another" in text
    assert "Traceback" not in text


async def _hold(client: Client, url: str, task_status: trio.TaskStatus[None]) -> None:
    async with client.connect(url):
        task_status.started()
        await trio.sleep_forever()


async def test_sigterm_drains_every_worker_and_exits_0(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "workers.log"
    url = f"http://127.0.0.1:{port}"
    async with workers_server(port, log) as parent:
        clients = [Client(transports=t, reconnection=False) for t in (("websocket",),) * 3]
        clients += [Client(transports=("polling",), reconnection=False) for _ in range(3)]
        closed = 0
        pids: set[int] = set()

        async def until_closed(client: Client, task_status: trio.TaskStatus[None]) -> None:
            nonlocal closed
            async with client.connect(url) as sio:
                pids.add(await _whoami(sio))
                task_status.started()
                await sio.wait_closed()
            closed += 1

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for client in clients:
                    await nursery.start(until_closed, client)
                assert len(pids) == 2
                parent.send_signal(signal.SIGTERM)
            assert closed == len(clients)
            assert await parent.wait() == 0
    text = log.read_text()
    assert "SIGTERM: shutting down" in text
    assert "worker 0: SIGTERM: shutting down" in text  # each worker drained
    assert "worker 1: SIGTERM: shutting down" in text
    assert "killed" not in text
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("case", ["no such app", "port in use"])
def test_a_server_of_workers_that_cannot_start_says_why_in_one_line(case: str) -> None:
    port = free_port()
    app = "no_such_module:app" if case == "no such app" else "tests.support.sticky_app:app"
    with contextlib.ExitStack() as stack:
        if case == "port in use":
            taken = stack.enter_context(socket.socket())
            taken.bind(("127.0.0.1", port))
            taken.listen()
        result = subprocess.run(
            workers_command(port, 2, app=app),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = {
        "no such app": "minidiscord: error: cannot import 'no_such_module'",
        "port in use": f"minidiscord: error: cannot listen on 127.0.0.1:{port}: the port is",
    }[case]
    assert lines[0].startswith(expected), lines


def test_the_chat_refuses_workers_without_redis_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "minidiscord", "--workers", "2", "--store", "memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "minidiscord: error: --workers 2 needs --redis-url: without it the chat's state "
        "(rooms, presence, the store) lives in one process, and each worker would be a "
        "separate chat"
    ]
