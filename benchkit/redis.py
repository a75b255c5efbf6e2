"""A private redis-server for the scripts and the tests: the one command line both use.

A free loopback port, its own directory, no RDB snapshots (what survives a restart is what
the AOF holds), and by default the AOF fsynced before every reply, which is what the chat's
"durable before visible" needs in cluster mode. The tests' asynchronous runner is
``tests/support/redisserver.py``; this module's :func:`running_redis` is the blocking
one, for scripts (and sync tests) that drive servers as subprocesses outside trio.
"""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .processes import free_port, stop

# The settings "durable before visible" needs; a run about weaker ones passes its own.
DURABLE = ("--appendonly", "yes", "--appendfsync", "always")


def redis_executable() -> str | None:
    return shutil.which("redis-server")


def redis_command(
    executable: str, port: int, directory: Path, config: Sequence[str] = DURABLE
) -> list[str]:
    """redis-server on 127.0.0.1:``port`` keeping its files in ``directory``."""
    return [
        executable,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--save", "",
        *config,
    ]  # fmt: skip


def answers_ping(port: int) -> bool:
    """Whether redis-server on ``port`` answers PING with PONG now (not LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis(directory: Path, config: Sequence[str] = DURABLE) -> Iterator[tuple[str, int]]:
    """A redis-server in ``directory`` for the block; yields (its URL, its pid). Raises
    RuntimeError (one line) when there is no redis-server or it does not come up."""
    executable = redis_executable()
    if executable is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        redis_command(executable, port, directory, config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not answers_ping(port):
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING within 15 s")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        stop(process)
