"""A private redis-server for a test (``benchkit.redis``'s command line: a free loopback
port, its own directory, the AOF fsynced before every reply), never the machine's 6379.

It is a real process, so tests can do to it what happens to Redis in production: freeze it
(SIGSTOP), kill it (SIGKILL) and restart it on its AOF.

Its directory is on the machine's tmpfs when there is one with room. With ``appendfsync
always`` redis-server fsyncs in its one thread before it answers anyone, and on a disk
shared with every other test an fsync can wait seconds behind their writes: past the
chat's 2 s bound for a Redis call (CI saw "redis did not answer within 2 s (ban)" and a
store read refused during a connect storm), so the test measured the disk, not the chat.
A SIGKILL of redis-server loses nothing on a tmpfs either: the tests kill the process, not
the machine.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from benchkit.processes import free_port
from benchkit.redis import DURABLE, redis_command, redis_executable
from tests.support.requirements import unavailable

READY_TIMEOUT = 15.0
# A free port may be taken (by another test's server or a client's ephemeral port) before
# redis-server binds it, which then exits at once: a new server starts on another port.
PORT_ATTEMPTS = 3
MEMORY_DISK = Path("/dev/shm")
# Far more than a test's AOF; below it the directory stays where the test asked.
MEMORY_DISK_ROOM = 1 << 30


class RedisExited(RuntimeError):
    """redis-server exited before it answered PING."""


def redis_server_executable() -> str:
    """The redis-server executable (skips the test locally when there is none)."""
    found = redis_executable()
    if found is None:
        unavailable("Redis tests", "redis-server is not installed (apt-get install redis-server)")
    return found


@dataclass
class RedisServer:
    """A running redis-server owned by one test."""

    port: int
    directory: Path
    config: Sequence[str]
    process: trio.Process | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start (or start again, on the same port, directory and AOF) and wait until it
        answers PING."""
        self.process = await trio.lowlevel.open_process(
            redis_command(redis_server_executable(), self.port, self.directory, self.config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await wait_for_pong(self.port, self.process)

    def freeze(self) -> None:
        """SIGSTOP: the server holds its connections open and answers nothing."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL, as a crash or power loss of the Redis process (not of the OS)."""
        process = self._running()
        process.kill()
        await process.wait()

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    def _signal(self, which: signal.Signals) -> None:
        self._running().send_signal(which)

    def _running(self) -> trio.Process:
        if self.process is None:
            raise RuntimeError("redis-server was not started")
        return self.process


async def wait_for_pong(port: int, process: trio.Process) -> None:
    """Until redis-server on ``port`` answers PING with PONG (not LOADING while it replays
    its AOF); raises if it exits first."""
    with trio.fail_after(READY_TIMEOUT):
        while True:
            if process.returncode is not None:
                raise RedisExited(f"redis-server exited with {process.returncode}")
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.02)
                continue
            async with stream:
                await stream.send_all(b"PING\r\n")
                reply = await stream.receive_some(64)
            if reply.startswith(b"+PONG"):
                return
            await trio.sleep(0.02)


@asynccontextmanager
async def redis_server(
    directory: Path, config: Sequence[str] = DURABLE
) -> AsyncIterator[RedisServer]:
    """A redis-server in ``directory`` (made if missing, a link to the tmpfs when there is
    room: see above), killed when the block ends."""
    with kept_in_memory(directory):
        async with _running(directory, config) as server:
            yield server


@contextmanager
def kept_in_memory(directory: Path) -> Iterator[None]:
    """``directory`` for the block: a link to a new directory on the tmpfs, both removed
    when the block ends; or, without a tmpfs with room, a directory made where asked."""
    if directory.exists() or not _memory_disk_has_room():
        directory.mkdir(parents=True, exist_ok=True)
        yield
        return
    kept = Path(tempfile.mkdtemp(prefix="minidiscord-redis-", dir=MEMORY_DISK))
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.symlink_to(kept, target_is_directory=True)
        try:
            yield
        finally:
            directory.unlink()
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def _memory_disk_has_room() -> bool:
    try:
        room = os.statvfs(MEMORY_DISK)
    except OSError:
        return False
    return os.access(MEMORY_DISK, os.W_OK) and room.f_bavail * room.f_frsize >= MEMORY_DISK_ROOM


@asynccontextmanager
async def _running(directory: Path, config: Sequence[str]) -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port(), directory, config)
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                await server.start()
                break
            except RedisExited:
                if attempt == PORT_ATTEMPTS:
                    raise
                server.port = free_port()
        yield server
    finally:
        if server.process is not None and server.process.returncode is None:
            server.thaw()
            server.process.kill()
            with trio.CancelScope(shield=True):
                await server.process.wait()
