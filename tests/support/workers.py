"""A server of several worker processes (``python -m minidiscord.workers``) from a test.

It serves ``tests/support/sticky_app.py`` (a standalone SocketServer whose ``whoami`` says
which process answers), so the routing is tested without the chat's cluster mode.
"""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from benchkit.processes import HANDSHAKE, ROOT
from tests.support.processes import until_ready

STICKY_APP = "tests.support.sticky_app:app"


def workers_command(port: int, workers: int, *options: str, app: str = STICKY_APP) -> list[str]:
    return [
        *(sys.executable, "-m", "minidiscord.workers", app),
        *("--workers", str(workers), "--port", str(port), "--shutdown-timeout", "2", *options),
    ]


@asynccontextmanager
async def workers_server(
    port: int, log: Path, workers: int = 2, *options: str, app: str = STICKY_APP
) -> AsyncIterator[trio.Process]:
    """The parent serving ``app`` with ``workers`` workers on ``port``, ready (a handshake
    answers); its output in ``log``. Killed when the block ends if it still runs (its
    workers then stop on their own: their parent is gone)."""
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            workers_command(port, workers, *options, app=app),
            cwd=ROOT,
            env={**os.environ},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        await until_ready(process, f"http://127.0.0.1:{port}", 30, HANDSHAKE)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


def sid_worker(sid: str) -> str:
    """The worker number a session id starts with."""
    number, dot, _ = sid.partition(".")
    assert dot, sid
    assert number.isdigit(), sid
    return number
