"""The native server: listeners, the ASGI lifespan, one task per connection, shutdown."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from ..addresses import TrustedProxies
from ..asgi_io import Message, Receive, Scope, Send
from .connlimits import ConnectionLimits, connection_budget, peer_ip, raise_file_limit, refuse
from .http import HttpConnection
from .wsframes import FrameCache

logger = logging.getLogger("minidiscord.frontend")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FrontendConfig:
    # A client must finish a request's head, and send each piece of its body, within this.
    read_timeout: float = 46.0
    # An idle keep-alive connection is closed after this long without a new request.
    keep_alive_timeout: float = 45.0
    max_head_size: int = 16 * 1024
    max_message_size: int = 1_000_001
    # Bytes queued for one WebSocket before its sender waits for the socket.
    write_buffer: int = 64 * 1024
    # On shutdown, how long requests in progress get to finish.
    graceful_timeout: float = 10.0


class _Lifespan:
    """Runs the app's ``lifespan`` exchange: startup before serving, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app, self._app_inbox = trio.open_memory_channel[Message](2)
        self._started = trio.Event()
        self._stopped = trio.Event()
        self.failure: str | None = None

    async def run(self) -> None:
        async def send(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.failed":
                self.failure = str(message.get("message", "startup failed"))
            if kind.startswith("lifespan.startup."):
                self._started.set()
            elif kind.startswith("lifespan.shutdown."):
                self._stopped.set()

        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        try:
            await self._app(scope, self._app_inbox.receive, send)
        except Exception as exc:
            if not self._started.is_set():
                self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("the app's lifespan failed")
        finally:
            self._started.set()
            self._stopped.set()

    async def startup(self) -> bool:
        """True when the app started; otherwise :attr:`failure` says why."""
        await self._to_app.send({"type": "lifespan.startup"})
        await self._started.wait()
        return self.failure is None

    async def shutdown(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            await self._to_app.send({"type": "lifespan.shutdown"})
            await self._stopped.wait()


class NativeServer:
    def __init__(
        self,
        app: ASGIApp,
        config: FrontendConfig | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.app = app
        self.config = config or FrontendConfig()
        # Connections per client address and in all, counted at accept time; without
        # settings, only the file limit's (no address takes more than half of it).
        self.limits = limits or ConnectionLimits(
            None, connection_budget(raise_file_limit()), TrustedProxies(())
        )
        self.frames = FrameCache()
        # Set once shutdown begins: idle connections close, none is accepted.
        self.closing = False
        self.idle: set[HttpConnection] = set()
        # Writes to WebSocket clients (each carries every frame queued since the last).
        self.websocket_writes = 0
        self._open_connections = 0
        self._all_closed = trio.Event()

    async def serve(
        self,
        host: str,
        port: int,
        shutdown_trigger: Callable[[], Awaitable[object]],
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until ``shutdown_trigger`` returns; started with the bound URLs."""
        lifespan = _Lifespan(self.app)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lifespan.run)
            if await lifespan.startup():
                try:
                    await self._serve_connections(host, port, shutdown_trigger, task_status)
                finally:
                    with trio.CancelScope(shield=True):
                        await lifespan.shutdown(self.config.graceful_timeout)
            nursery.cancel_scope.cancel()
        if lifespan.failure is not None:
            raise RuntimeError(f"the app did not start: {lifespan.failure}")

    async def _serve_connections(
        self,
        host: str,
        port: int,
        shutdown_trigger: Callable[[], Awaitable[object]],
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        async with trio.open_nursery() as connections:
            accepting = trio.CancelScope()

            async def accept() -> None:
                with accepting:
                    await trio.serve_listeners(self._handle, listeners, handler_nursery=connections)

            connections.start_soon(accept)
            task_status.started([_url(listener) for listener in listeners])
            await shutdown_trigger()
            accepting.cancel()
            await self._close_connections()
            connections.cancel_scope.cancel()

    async def _close_connections(self) -> None:
        """Close idle connections now; give the busy ones ``graceful_timeout`` to finish."""
        self.closing = True
        for connection in list(self.idle):
            if connection.idle_scope is not None:
                connection.idle_scope.cancel()
        with trio.move_on_after(self.config.graceful_timeout):
            if self._open_connections:
                await self._all_closed.wait()

    async def _handle(self, stream: trio.SocketStream) -> None:
        ip = peer_ip(stream)
        if ip is None:  # gone before we got to it
            await trio.aclose_forcefully(stream)
            return
        with self.limits.connection(ip) as refusal:
            if refusal is not None:
                await refuse(stream, refusal)
                return
            await self._serve(stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        self._open_connections += 1
        try:
            await HttpConnection(self, stream).run()
        except Exception:
            # One connection's failure (ours or the client's) ends that connection only.
            logger.exception("a connection failed")
        finally:
            self._open_connections -= 1
            if self.closing and not self._open_connections:
                self._all_closed.set()
            await trio.aclose_forcefully(stream)


def _url(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"
