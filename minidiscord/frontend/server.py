"""The native server: listeners, the ASGI lifespan, one task per connection, shutdown."""

import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence

import trio

from ..addresses import TrustedProxies
from ..asgi_io import ASGIApp
from ..lifespan import Lifespan
from .accepting import serve_listener
from .connlimits import ConnectionLimits, connection_budget, peer_ip, raise_file_limit, refuse
from .context import ConnectionContext, FrontendConfig
from .http import HttpConnection
from .listening import describe, open_listening_sockets
from .sticky import HandBack
from .streams import ClientStream
from .tls import handshake

logger = logging.getLogger("minidiscord.frontend")


class NativeServer:
    """Accepts connections and serves each in its own task until shutdown; over TLS when
    given a ``tls`` context (:func:`.tls.server_context`)."""

    def __init__(
        self,
        app: ASGIApp,
        config: FrontendConfig | None = None,
        limits: ConnectionLimits | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.config = config or FrontendConfig()
        self.tls = tls
        # Connections per client address and in all, counted at accept time; without
        # settings, only the file limit's (no address takes more than half of it).
        limits = limits or ConnectionLimits(
            None, connection_budget(raise_file_limit()), TrustedProxies(())
        )
        self.limits = limits
        self.context = ConnectionContext(app, self.config, limits)
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
        """Serve on ``host``:``port`` until ``shutdown_trigger`` returns; started with the
        bound URLs. Raises :class:`.listening.ListenError` when it cannot listen there."""
        sockets = await trio.to_thread.run_sync(open_listening_sockets, host, port)
        await self.serve_sockets(sockets, shutdown_trigger, task_status=task_status)

    async def serve_sockets(
        self,
        sockets: Sequence[socket.socket],
        shutdown_trigger: Callable[[], Awaitable[object]],
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on these listening sockets until ``shutdown_trigger`` returns; started with
        their URLs. The sockets are closed when it returns."""
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in sockets]

        async def accept(connections: trio.Nursery) -> None:
            async with trio.open_nursery() as accepting:
                for sock in sockets:
                    accepting.start_soon(serve_listener, sock, self.serve_connection, connections)

        try:
            await self.serve_accepted(
                accept,
                [self._url(listener) for listener in listeners],
                shutdown_trigger,
                task_status=task_status,
            )
        finally:
            for listener in listeners:
                listener.socket.close()

    async def serve_accepted(
        self,
        accept: Callable[[trio.Nursery], Awaitable[object]],
        urls: list[str],
        shutdown_trigger: Callable[[], Awaitable[object]],
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the app's lifespan and, once it started, ``accept(nursery)``, which starts
        :meth:`serve_connection` in that nursery for each connection it gets (from
        listeners, or from another process under ``--workers``), until ``shutdown_trigger``
        returns; started with ``urls``."""
        lifespan = Lifespan(self.app)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lifespan.run)
            if await lifespan.startup():
                try:
                    await self._serve_connections(accept, urls, shutdown_trigger, task_status)
                finally:
                    with trio.CancelScope(shield=True):
                        await lifespan.shutdown(self.config.graceful_timeout)
            nursery.cancel_scope.cancel()
        if lifespan.failure is not None:
            raise RuntimeError(f"the app did not start: {lifespan.failure}")

    async def _serve_connections(
        self,
        accept: Callable[[trio.Nursery], Awaitable[object]],
        urls: list[str],
        shutdown_trigger: Callable[[], Awaitable[object]],
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        async with trio.open_nursery() as connections:
            accepting = trio.CancelScope()

            async def run_accept() -> None:
                with accepting:
                    await accept(connections)

            connections.start_soon(run_accept)
            task_status.started(urls)
            await shutdown_trigger()
            accepting.cancel()
            await self._close_connections()
            connections.cancel_scope.cancel()

    async def _close_connections(self) -> None:
        """Close idle connections now; give the busy ones ``graceful_timeout`` to finish."""
        self.context.shut_down()
        with trio.move_on_after(self.config.graceful_timeout):
            if self._open_connections:
                await self._all_closed.wait()

    async def serve_connection(self, stream: trio.SocketStream, received: bytes = b"") -> None:
        """Serve one accepted connection until it ends (and close it); ``received``: bytes
        already read from it by whoever accepted it."""
        ip = peer_ip(stream)
        if ip is None:  # gone before we got to it
            await trio.aclose_forcefully(stream)
            return
        with self.limits.connection(ip) as refusal:
            if refusal is not None:
                # Over TLS, just closed: an answer would cost the handshake it was refused.
                refuse(stream, refusal, over_tls=self.tls is not None)
                return
            client: ClientStream = stream
            if self.tls is not None:
                client = trio.SSLStream(stream, self.tls, server_side=True, https_compatible=True)
            await self._serve(client, received, ip)

    async def _serve(self, stream: ClientStream, received: bytes, ip: str) -> None:
        self._open_connections += 1
        try:
            if isinstance(stream, trio.SSLStream) and not await self._handshake(stream, ip):
                return
            upgraded = await HttpConnection(self.context, stream, received).run()
            if upgraded is not None:
                await upgraded.run()
        except HandBack as back:
            # Under --workers: the next request is another worker's; the parent routes it.
            assert self.context.sticky is not None
            # --workers refuses TLS: a TLS session cannot move to another process.
            assert isinstance(stream, trio.SocketStream)
            await self.context.sticky.hand_back(stream, back.received)
        except Exception:
            # One connection's failure (ours or the client's) ends that connection only.
            logger.exception("a connection failed")
        finally:
            self._open_connections -= 1
            if self.context.shutting_down and not self._open_connections:
                self._all_closed.set()
            await trio.aclose_forcefully(stream)

    async def _handshake(self, stream: trio.SSLStream[trio.SocketStream], ip: str) -> bool:
        """The TLS handshake, within its timeout (ended early by a shutdown, as an idle
        connection is); False when the connection should just be closed."""
        timeout = self.config.tls_handshake_timeout
        with self.context.idle_wait(timeout):
            return await handshake(stream, ip)
        if not self.context.shutting_down:
            logger.info("TLS handshake with %s failed: not finished within %g s", ip, timeout)
        return False

    def _url(self, listener: trio.SocketListener) -> str:
        sock = listener.socket
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{describe(sock.family, sock.getsockname())}"
