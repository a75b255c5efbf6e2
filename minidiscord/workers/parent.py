"""The parent of ``--workers``: owns the port, keeps N workers running, routes connections.

It accepts every connection, reads only its first request line, and hands the connection
(its descriptor and the bytes read) to the worker that owns the session the line names, or,
for a new session, to the next worker in turn; it never carries a byte of the exchange
itself. Workers give back kept-alive connections whose next request is another worker's
and the parent routes them again. A worker that exits is started again (its sessions are
gone: their clients reconnect and get a new one); one that cannot start at all stops the
whole server, with its one line. SIGTERM/SIGINT are passed on to every worker, which drains
its clients as a single server does; the parent exits once they all have.
"""

import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import count

import trio

from ..addresses import TrustedProxies
from ..frontend.connlimits import (
    ConnectionLimits,
    connection_budget,
    peer_ip,
    raise_file_limit,
    refuse,
)
from ..frontend.listening import describe
from ..frontend.sticky import first_line
from .channel import MAX_RECEIVED, Channel, ChannelClosed, Kind, channel_pair
from .routing import owner_of

logger = logging.getLogger("minidiscord.workers")

RECEIVE_SIZE = 64 * 1024
# A request line longer than this is refused by the worker's front end anyway.
MAX_LINE = 16 * 1024
# A worker that does not take a connection in this long is stuck: the connection is closed.
HANDOVER_TIMEOUT = 5.0
# A worker must say it is ready within this long of being started.
START_TIMEOUT = 60.0
# A worker that keeps exiting is started again after this long, doubling up to the maximum.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
# A worker that served this long before it exited was not crash-looping.
STABLE_AFTER = 10.0

# argv for worker ``number`` of ``workers``, whose channel is descriptor ``fd``.
WorkerCommand = Callable[[int, int, int], list[str]]


class WorkersFailed(Exception):
    """A worker could not start; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The parent's deadlines for a client (the front end's, for the same reasons)."""

    # For the first byte of a new connection, and for the whole request line after it.
    keep_alive: float = 45.0
    read: float = 46.0
    # Workers get this long to drain once told to stop; then they are killed.
    stop: float = 25.0


@dataclass(eq=False)
class _Worker:
    number: int
    process: trio.Process | None = None
    channel: Channel | None = None
    ready: bool = False
    started_at: float = 0.0
    restart_delay: float = RESTART_DELAY


class Parent:
    """Runs ``workers`` processes made by ``command`` and routes connections to them."""

    def __init__(
        self,
        workers: int,
        command: WorkerCommand,
        timeouts: Timeouts,
        limits: ConnectionLimits | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.command = command
        self.timeouts = timeouts
        self.workers = [_Worker(number) for number in range(workers)]
        self._turn = count()
        self._any_ready = trio.Event()
        self._stopping = False
        # Connections still here (being read or handed over), per address and in all, as
        # a single server counts them at accept: otherwise one address opening connections
        # and sending nothing could hold every descriptor the parent has. Once handed over,
        # the worker counts them.
        self.limits = limits or ConnectionLimits(
            None, connection_budget(raise_file_limit()), TrustedProxies(())
        )
        self._routing: trio.Nursery | None = None

    async def run(
        self,
        sockets: Sequence[socket.socket],
        shutdown_trigger: Callable[[], Awaitable[object]],
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the workers, then route connections from ``sockets`` until
        ``shutdown_trigger`` returns; started with the URLs once every worker is ready.
        Raises :class:`WorkersFailed` if one cannot start. Closes ``sockets``."""
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
        try:
            # Outside any nursery, so that WorkersFailed reaches the caller as itself.
            try:
                for worker in self.workers:
                    await self._spawn(worker)
                for worker in self.workers:
                    await self._until_ready(worker)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await self._stop_workers(kill=True)
                raise
            # Only now: a reason not to start stays the only line.
            for worker in self.workers:
                assert worker.process is not None
                logger.info("worker %d ready (pid %d)", worker.number, worker.process.pid)
            async with trio.open_nursery() as nursery:
                async with trio.open_nursery() as routing:
                    self._routing = routing
                    for worker in self.workers:
                        nursery.start_soon(self._supervise, worker)
                    accepting = trio.CancelScope()

                    async def accept() -> None:
                        with accepting:
                            await trio.serve_listeners(
                                self._route_new, listeners, handler_nursery=routing
                            )

                    routing.start_soon(accept)
                    task_status.started([_url(listener) for listener in listeners])
                    await shutdown_trigger()
                    self._stopping = True
                    accepting.cancel()
                    for listener in listeners:
                        listener.socket.close()
                    # Connections not yet handed over are dropped: their clients retry.
                    routing.cancel_scope.cancel()
                with trio.CancelScope(shield=True):
                    await self._stop_workers(kill=False)
                nursery.cancel_scope.cancel()
        finally:
            for listener in listeners:
                listener.socket.close()

    # The workers' lives.

    async def _spawn(self, worker: _Worker) -> None:
        ours, theirs = channel_pair()
        try:
            command = self.command(worker.number, len(self.workers), theirs.fileno())
            # Its own session: a terminal's ^C reaches the parent only, which passes the
            # stop on to every worker once.
            process = await trio.lowlevel.open_process(
                command, pass_fds=(theirs.fileno(),), start_new_session=True, env=_child_env()
            )
        finally:
            theirs.close()
        worker.process = process
        worker.channel = Channel(ours)
        worker.ready = False
        worker.started_at = trio.current_time()

    async def _until_ready(self, worker: _Worker) -> None:
        """Until the worker says it serves; raises WorkersFailed when it cannot."""
        assert worker.channel is not None
        assert worker.process is not None
        with trio.move_on_after(START_TIMEOUT):
            message = await worker.channel.receive()
            if message is not None and message.kind is Kind.READY:
                worker.ready = True
                self._any_ready.set()
                return
            if message is not None and message.kind is Kind.FAILED:
                raise WorkersFailed(message.received.decode(errors="replace"))
            with trio.move_on_after(5):
                await worker.process.wait()
            raise WorkersFailed(
                f"worker {worker.number} exited with status {worker.process.returncode} "
                "before it was ready"
            )
        raise WorkersFailed(f"worker {worker.number} was not ready in {START_TIMEOUT:.0f} s")

    async def _supervise(self, worker: _Worker) -> None:
        """Take back the worker's connections while it runs; start another when it exits."""
        while True:
            assert worker.process is not None
            assert worker.channel is not None
            async with trio.open_nursery() as running:
                running.start_soon(self._take_back, worker, worker.channel)
                await worker.process.wait()
                running.cancel_scope.cancel()
            status = worker.process.returncode
            self._lost(worker)
            if self._stopping:
                return
            if trio.current_time() - worker.started_at > STABLE_AFTER:
                worker.restart_delay = RESTART_DELAY
            logger.warning(
                "worker %d (pid %d) exited with status %s; starting another in %.1f s (its "
                "sessions are lost: their clients reconnect)",
                worker.number,
                worker.process.pid,
                status,
                worker.restart_delay,
            )
            await trio.sleep(worker.restart_delay)
            if self._stopping:
                return  # told to stop meanwhile: no new process the stop would not see
            worker.restart_delay = min(worker.restart_delay * 2, RESTART_DELAY_MAX)
            await self._spawn(worker)
            try:
                await self._until_ready(worker)
            except WorkersFailed as exc:
                logger.error("worker %d could not start again: %s", worker.number, exc)
                if worker.process.returncode is None:
                    worker.process.kill()
                continue
            logger.info("worker %d (pid %d) replaced", worker.number, worker.process.pid)

    def _lost(self, worker: _Worker) -> None:
        worker.ready = False
        if worker.channel is not None:
            worker.channel.close()
        if not any(w.ready for w in self.workers):
            self._any_ready = trio.Event()

    async def _stop_workers(self, *, kill: bool) -> None:
        """SIGTERM every worker (their drain), SIGKILL any still running after the stop
        timeout (at once with ``kill``); returns once all exited."""
        running = [w.process for w in self.workers if w.process and w.process.returncode is None]
        for process in running:
            if kill:
                process.kill()
            else:
                process.send_signal(signal.SIGTERM)
        with trio.move_on_after(self.timeouts.stop):
            for process in running:
                await process.wait()
        for process in running:
            if process.returncode is None:
                logger.warning("worker (pid %d) did not stop in time: killed", process.pid)
                process.kill()
                await process.wait()

    # Routing.

    async def _take_back(self, worker: _Worker, channel: Channel) -> None:
        """Route again the connections the worker gives back."""
        while (message := await channel.receive()) is not None:
            if message.kind is Kind.CONNECTION and message.fd is not None:
                stream = _stream(message.fd)
                if stream is None:
                    continue
                if self._stopping or self._routing is None:
                    stream.socket.close()
                    continue
                self._routing.start_soon(self._route, stream, message.received)

    async def _route_new(self, stream: trio.SocketStream) -> None:
        ip = peer_ip(stream)
        if ip is None:  # gone before we got to it
            stream.socket.close()
            return
        with self.limits.connection(ip) as refusal:
            if refusal is not None:
                refuse(stream, refusal)
                return
            await self._route(stream, b"")

    async def _route(self, stream: trio.SocketStream, received: bytes) -> None:
        """Read up to the request line, then hand the connection to its worker."""
        try:
            head = await self._read_request_line(stream, received)
            if head is not None:
                await self._hand_over(stream, head)
        finally:
            # Only our descriptor: the worker's copy keeps the connection open.
            stream.socket.close()

    async def _read_request_line(self, stream: trio.SocketStream, received: bytes) -> bytes | None:
        """What the client sent up to its request line at least; None when it sent nothing
        in time, closed, or broke HTTP before finishing that line."""
        deadline = trio.current_time() + self.timeouts.keep_alive
        while first_line(received, MAX_LINE) is None:
            with trio.move_on_at(deadline):
                try:
                    data = await stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                if not data:
                    return None
                received += data
                if len(received) > MAX_RECEIVED:
                    return None
                deadline = min(deadline, trio.current_time() + self.timeouts.read)
                continue
            return None
        return received

    async def _hand_over(self, stream: trio.SocketStream, received: bytes) -> None:
        line = first_line(received, MAX_LINE)
        owner = owner_of(line) if line is not None else None
        with trio.move_on_after(HANDOVER_TIMEOUT):
            while not self._stopping:
                worker = self._pick(owner)
                if worker is None:
                    await self._any_ready.wait()
                    continue
                assert worker.channel is not None
                try:
                    await worker.channel.send_connection(stream.socket.fileno(), received)
                except ChannelClosed:
                    self._lost(worker)
                    continue
                return
        logger.warning("no worker took a connection in %.0f s: closed", HANDOVER_TIMEOUT)

    def _pick(self, owner: int | None) -> _Worker | None:
        """The session's worker while it runs; otherwise (a new session, or one whose
        worker died, which any worker answers as unknown) the next ready one in turn."""
        if owner is not None and 0 <= owner < len(self.workers) and self.workers[owner].ready:
            return self.workers[owner]
        for _ in range(len(self.workers)):
            worker = self.workers[next(self._turn) % len(self.workers)]
            if worker.ready:
                return worker
        return None


def _child_env() -> dict[str, str]:
    # The worker imports what this process imports (the same minidiscord, the app's module
    # next to the script that started us), as multiprocessing's spawn does: its own
    # sys.path would start from the working directory instead.
    path = os.pathsep.join(entry for entry in sys.path if entry)
    return {**os.environ, "PYTHONPATH": path}


def _stream(fd: int) -> trio.SocketStream | None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


def _url(listener: trio.SocketListener) -> str:
    sock = listener.socket
    return f"http://{describe(sock.family, sock.getsockname())}"
