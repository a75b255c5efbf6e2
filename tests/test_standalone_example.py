"""docs/examples/echo_server.py, the README's standalone Socket.IO program, runs as the
README says: under ``hypercorn --worker-class trio`` and on the native front end (its own
``python -m``), and in-process through minidiscord.serve; python-socketio's client checks
what it promises each time."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed

from benchkit.processes import ROOT, free_port
from docs.examples import echo_server
from tests.support.echo_example import check_echo_scenario, run_echo_scenario
from tests.support.processes import plain_hypercorn, until_ready
from tests.support.rawclient import raw_websocket, read_until_closed
from tests.support.servers import serve_any_app

# Ready once the Engine.IO server answers a handshake (the example serves nothing else).
PROBE = "/socket.io/?EIO=4&transport=polling"


async def _check(url: str) -> None:
    with trio.fail_after(30):
        check_echo_scenario(await trio.to_thread.run_sync(run_echo_scenario, url))


async def test_the_example_in_process_on_the_suites_front_end(nursery: trio.Nursery) -> None:
    server = await serve_any_app(nursery, echo_server.app)
    await _check(server.url)


@pytest.mark.slow
async def test_the_example_under_hypercorns_own_command(tmp_path: Path) -> None:
    port = free_port()
    target = "docs.examples.echo_server:app"
    # hypercorn alone would hold a connection for its graceful timeout (a minute here), then
    # drop it: the drain serve_like_minidiscord adds closes it at once, and cleanly.
    options = ("--graceful-timeout", "60")
    log = tmp_path / "hypercorn.log"
    async with plain_hypercorn(port, log, *options, target=target, probe=PROBE) as process:
        await _check(f"http://127.0.0.1:{port}")
        async with raw_websocket(f"ws://127.0.0.1:{port}") as client:
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                await read_until_closed(client)
                with pytest.raises(ConnectionClosed) as closed:
                    await client.receive()
                assert await process.wait() == 0
    assert closed.value.reason is not None
    assert closed.value.reason.code == 1000


@pytest.mark.slow
async def test_the_example_as_its_own_program_on_the_native_front_end(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "example.log"
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "docs.examples.echo_server", "--port", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        await until_ready(process, f"http://127.0.0.1:{port}", 30, PROBE)
        await _check(f"http://127.0.0.1:{port}")
        # SIGTERM, as a service manager stops it: a clean exit.
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
    lines = log.read_text()
    assert f"serving on http://127.0.0.1:{port} (front end: native)" in lines
    assert "SIGTERM: shutting down" in lines
