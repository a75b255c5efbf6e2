"""A private redis-server for a benchmark run: a free loopback port, a temporary directory,
the AOF fsynced before every reply (what cluster mode's guarantees need), stopped after.

The blocking twin of tests/support/redisserver.py, for scripts that drive servers as
subprocesses outside trio.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchkit.processes import free_port, stop

DURABLE = ("--appendonly", "yes", "--appendfsync", "always")


@contextmanager
def running_redis(directory: Path, timeout: float = 15.0) -> Iterator[tuple[str, int]]:
    """(its URL, its pid) once it answers PING; killed when the block ends."""
    command = shutil.which("redis-server")
    if command is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [command, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", *DURABLE],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_pong(port, process, timeout)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        stop(process)


def _wait_for_pong(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:g} s")
