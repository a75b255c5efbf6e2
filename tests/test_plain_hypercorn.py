"""``hypercorn --worker-class trio minidiscord.asgi:app`` serves as ``minidiscord`` does.

Through a real ``hypercorn`` command (its main process and its worker process): the log
settings from the environment, the graceful drain on SIGTERM, and hypercorn's adjustments
(:mod:`minidiscord.hostfixes`). Those adjustments are applied where hypercorn hosts the
app, and never by the native front end.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from benchkit.processes import ROOT, free_port
from benchkit.wire import client_frame_head
from tests.support.processes import plain_hypercorn
from tests.support.rawclient import (
    RawWebSocket,
    polling_connect,
    raw_websocket,
    websocket_by_hand,
    websocket_handshake_head,
)

MiB = 1024 * 1024


async def _stop(process: trio.Process) -> int:
    """SIGTERM to hypercorn's main process, as a service manager sends it; its exit status."""
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        return await process.wait()


async def _read_to_the_end(websocket: RawWebSocket) -> None:
    while True:
        await websocket.receive()


@pytest.mark.slow
async def test_json_log_format_and_level_come_from_the_environment(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    # A polling session that never polls again holds the drain for its whole timeout.
    env = {
        "MINIDISCORD_LOG_FORMAT": "json",
        "MINIDISCORD_LOG_LEVEL": "info",
        "MINIDISCORD_SHUTDOWN_TIMEOUT": "1",
    }
    async with plain_hypercorn(port, log, **env) as process:
        async with httpx.AsyncClient() as http:
            sid = await polling_connect(http, f"http://127.0.0.1:{port}")
        assert await _stop(process) == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    # hypercorn's own lines too: one object per line, nothing in hypercorn's format.
    assert any(
        entry["logger"] == "hypercorn.error" and entry["message"].startswith("Running on")
        for entry in entries
    ), entries
    assert any(
        entry["logger"] == "minidiscord.engine" and entry["message"].startswith(f"connect {sid}")
        for entry in entries
    ), entries
    assert {entry["level"] for entry in entries} == {"info"}


@pytest.mark.slow
async def test_log_level_from_the_environment_silences_info_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    env = {"MINIDISCORD_LOG_LEVEL": "warning", "MINIDISCORD_SHUTDOWN_TIMEOUT": "1"}
    async with plain_hypercorn(port, log, **env) as process:
        async with httpx.AsyncClient() as http:
            await polling_connect(http, f"http://127.0.0.1:{port}")
        assert await _stop(process) == 0
    # Neither hypercorn's "Running on" nor our connect and shutdown lines: all are info.
    assert log.read_text() == ""


@pytest.mark.slow
# One worker process (the default): SIGTERM reaches hypercorn's main process, which tells
# the worker. No worker process: SIGTERM reaches the process that serves.
@pytest.mark.parametrize("workers", ["1", "0"])
async def test_sigterm_closes_every_client_cleanly_before_hypercorn_stops(
    tmp_path: Path, workers: str
) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # hypercorn alone would hold these connections for its graceful timeout (a minute here)
    # and then drop them: only the drain closes them at once, and cleanly.
    options = ("--workers", workers, "--graceful-timeout", "60")
    async with plain_hypercorn(port, log, *options) as process:
        async with (
            raw_websocket(f"ws://127.0.0.1:{port}") as websocket,
            httpx.AsyncClient() as http,
        ):
            await websocket.join()
            sid = await polling_connect(http, url)
            assert await _stop(process) == 0
            # Whatever the server still sent, a close frame ends it.
            with pytest.raises(ConnectionClosed) as closed:
                await _read_to_the_end(websocket)
        assert closed.value.reason is not None
        assert closed.value.reason.code == 1000
    lines = log.read_text()
    assert f"disconnect {websocket.sid}: server shutting down" in lines
    assert f"disconnect {sid}: server shutting down" in lines


@pytest.mark.slow
async def test_hypercorn_adjustments_are_active(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    async with plain_hypercorn(port, log, MINIDISCORD_MAX_PAYLOAD="1000000"):
        # Compression is refused (hostfixes.refuse_websocket_compression).
        head = await websocket_handshake_head(
            port, b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        )
        assert head.startswith(b"http/1.1 101"), head
        assert b"sec-websocket-extensions" not in head, head
        # A frame far over the limit is cut while it arrives (hostfixes.limit_websocket_
        # messages): the server closes the connection long before the 64 MiB are sent,
        # where hypercorn alone reads and buffers up to 16 MiB of it, then the rest.
        declared = 64 * MiB
        stream, _ = await websocket_by_hand(port)
        sent = 0

        async def send() -> None:
            nonlocal sent
            await stream.send_all(client_frame_head(0x1, declared))
            chunk = b"4" + b"x" * (64 * 1024 - 1)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while sent < declared:
                    await stream.send_all(chunk)
                    sent += len(chunk)

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                with contextlib.suppress(trio.BrokenResourceError):
                    while await stream.receive_some(65536):
                        pass
                nursery.cancel_scope.cancel()
        await trio.aclose_forcefully(stream)
        assert sent < 16 * MiB, f"{sent / MiB:.0f} MiB sent before the server closed"


@pytest.mark.parametrize("workers", ["1", "0"])
def test_a_bad_setting_is_one_line(workers: str) -> None:
    command = [
        *(sys.executable, "-m", "hypercorn", "--worker-class", "trio", "--workers", workers),
        *("--bind", f"127.0.0.1:{free_port()}", "minidiscord.asgi:app"),
    ]
    env = {**os.environ, "MINIDISCORD_STORE": "memory", "MINIDISCORD_PORT": "notaport"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert (result.stdout + result.stderr).splitlines() == [
        "minidiscord: error: MINIDISCORD_PORT: 'notaport' is not a port number"
    ]
    if workers == "0":
        assert result.returncode == 2
    # With worker processes hypercorn 0.18 exits 0 whatever its worker's status (its issue
    # #269): the README says so.


# Serves with the front end named in argv[1] until it has started, then stops; prints
# which of hypercorn's methods are not hypercorn's own any more.
_PROBE = """
import functools, sys, trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import Handshake, WebsocketBuffer
from hypercorn.trio import run as worker
from hypercorn.trio.tcp_server import TCPServer
from minidiscord.app import create_app
from minidiscord.config import Settings
from minidiscord.frontend.hosting import serve

methods = {
    "TCPServer.run": (TCPServer, "run"),
    "H11Protocol.__init__": (H11Protocol, "__init__"),
    "Handshake.__init__": (Handshake, "__init__"),
    "WebsocketBuffer.extend": (WebsocketBuffer, "extend"),
    "worker.trio": (worker, "trio"),
}
before = {name: getattr(owner, attribute) for name, (owner, attribute) in methods.items()}
settings = Settings(host="127.0.0.1", port=0, store="memory", frontend=sys.argv[1])

async def main():
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(serve, create_app(settings), settings, trio.lowlevel.checkpoint)
        )

trio.run(main)
print(",".join(sorted(n for n, (o, a) in methods.items() if getattr(o, a) is not before[n])))
"""


@pytest.mark.parametrize(
    ("frontend", "changed"),
    [
        ("native", ""),
        (
            "hypercorn",
            "H11Protocol.__init__,Handshake.__init__,TCPServer.run,WebsocketBuffer.extend,"
            "worker.trio",
        ),
    ],
)
def test_only_a_hypercorn_front_end_adjusts_hypercorn(frontend: str, changed: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, frontend],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MINIDISCORD_LOG_LEVEL": "warning"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == changed
