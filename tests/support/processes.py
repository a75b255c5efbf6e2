"""The real ``minidiscord`` command in a subprocess, from a trio test.

The command, the free port and the readiness check are ``benchkit.processes``'s, the ones
the scripts use; this adds what a trio test needs: the process is a ``trio.Process`` and
waiting for it to serve does not block the test's other tasks.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import trio

from benchkit.processes import HEALTH, ROOT, server_args, wait_ready


@dataclass
class CliServer:
    process: trio.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@asynccontextmanager
async def cli_server(
    port: int,
    *options: str,
    unlimited: bool = True,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 20.0,
) -> AsyncIterator[CliServer]:
    """``python -m minidiscord --port PORT`` with ``options`` (and the limits off unless
    ``unlimited`` is false), serving; killed when the block ends if it still runs.

    The front end is the suite's (``MINIDISCORD_FRONTEND``, which the process inherits);
    ``env`` is added to this process's environment (when it sets ``MINIDISCORD_PORT``, the
    port is given only there); output goes to ``log`` (appended) or is discarded."""
    output: IO[bytes] | int = subprocess.DEVNULL if log is None else log.open("ab")
    try:
        process = await trio.lowlevel.open_process(
            server_args(
                None if "MINIDISCORD_PORT" in (env or {}) else port, *options, unlimited=unlimited
            ),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        if not isinstance(output, int):
            output.close()
    try:
        await until_ready(process, f"http://127.0.0.1:{port}", timeout)
        yield CliServer(process, port)
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


@asynccontextmanager
async def plain_hypercorn(
    port: int,
    log: Path,
    *options: str,
    target: str = "minidiscord.asgi:app",
    probe: str = HEALTH,
    **env: str,
) -> AsyncIterator[trio.Process]:
    """hypercorn's own command serving ``target`` on ``port`` (ready once ``probe`` answers
    200), its output in ``log``; its process group is killed when the block ends if it still
    runs."""
    command = [
        *(sys.executable, "-m", "hypercorn", "--worker-class", "trio"),
        *("--bind", f"127.0.0.1:{port}", *options, target),
    ]
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            command,
            cwd=ROOT,
            env={**os.environ, "MINIDISCORD_STORE": "memory", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its worker is a process of its own: the group takes both down at the end.
            start_new_session=True,
        )
    try:
        await until_ready(process, f"http://127.0.0.1:{port}", 30, probe)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with trio.CancelScope(shield=True):
            await process.wait()


async def until_ready(process: trio.Process, url: str, timeout: float, probe: str = HEALTH) -> None:
    """``wait_ready`` (until ``probe`` answers 200) in a thread, so the test's other tasks go
    on meanwhile; the process's exit is watched here, as only trio's own thread may ask a
    ``trio.Process`` about it."""

    async def exited() -> None:
        await process.wait()
        raise RuntimeError(f"the server exited with status {process.returncode}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(exited)
        await trio.to_thread.run_sync(wait_ready, url, None, timeout, probe, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()
