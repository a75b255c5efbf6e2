"""Serving an app with the front end its settings name: hypercorn or the native one."""

import logging
import socket
from collections.abc import Awaitable, Callable, Sequence

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from .. import hostfixes
from ..asgi_io import ASGIApp
from ..config import Settings
from .connlimits import ConnectionLimits
from .context import FrontendConfig
from .listening import open_listening_sockets
from .server import NativeServer
from .tls import HANDSHAKE_TIMEOUT, server_context


def heartbeat_cycle(settings: Settings) -> float:
    # A client that sends nothing for a whole heartbeat cycle is gone or stalling (a
    # request whose head or body never finishes). Live clients always send within it:
    # a pong, or their next poll.
    return settings.ping_interval + settings.ping_timeout


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None
    # hypercorn's own lines go through our handlers and format.
    config.errorlog = logging.getLogger("hypercorn.error")
    # hypercorn applies its read timeout to WebSockets too, where our heartbeat judges
    # liveness: a client is silent for up to a heartbeat cycle plus the time a busy server
    # takes to write its ping (allowed up to one more ping_timeout), and must not be cut
    # before our heartbeat would judge it.
    config.read_timeout = int(heartbeat_cycle(settings) + settings.ping_timeout) + 1
    config.keep_alive_timeout = max(heartbeat_cycle(settings), 5.0)
    # hypercorn's default, named because it is what bounds an HTTP/2 client that opens and
    # resets streams at once (rapid reset): reset streams do not count against the 100 it may
    # have open, and its connection ends (GOAWAY) after this many requests.
    config.keep_alive_max_requests = 1000
    config.websocket_max_message_size = settings.max_payload + 1
    config.graceful_timeout = settings.shutdown_timeout
    if settings.certfile is not None:
        config.certfile = settings.certfile
        # hypercorn serves TLS only with both named; OpenSSL finds a key in the
        # certificate's file when it is given as both.
        config.keyfile = settings.keyfile or settings.certfile
        config.ssl_handshake_timeout = HANDSHAKE_TIMEOUT
    return config


def native_config(settings: Settings) -> FrontendConfig:
    return FrontendConfig(
        read_timeout=int(heartbeat_cycle(settings)) + 1,
        keep_alive_timeout=max(heartbeat_cycle(settings), 5.0),
        # One byte over the engine's limit, so that the engine sees it and says why.
        max_message_size=settings.max_payload + 1,
        graceful_timeout=settings.shutdown_timeout,
    )


async def serve(
    app: ASGIApp,
    settings: Settings,
    shutdown_trigger: Callable[[], Awaitable[object]],
    *,
    sockets: Sequence[socket.socket] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; started with the URLs it serves on.

    It serves on ``sockets`` (from :func:`.listening.open_listening_sockets`, so that a
    command can report a port it cannot have before anything starts), or else on sockets it
    opens on the settings' host and port (:class:`.listening.ListenError` when it cannot).
    Either way it closes them when it returns. With ``settings.certfile`` it serves TLS
    (:class:`.tls.TLSError` when the certificate or key cannot be used).
    """
    if sockets is None:
        sockets = await trio.to_thread.run_sync(
            open_listening_sockets, settings.host, settings.port
        )
    limits = ConnectionLimits.for_settings(settings)
    try:
        tls = await trio.to_thread.run_sync(server_context, settings.certfile, settings.keyfile)
        if settings.frontend == "native":
            server = NativeServer(app, native_config(settings), limits, tls)
            await server.serve_sockets(sockets, shutdown_trigger, task_status=task_status)
        else:
            await _serve_on_hypercorn(app, settings, limits, sockets, shutdown_trigger, task_status)
    finally:
        for sock in sockets:
            sock.close()


async def _serve_on_hypercorn(
    app: ASGIApp,
    settings: Settings,
    limits: ConnectionLimits,
    sockets: Sequence[socket.socket],
    shutdown_trigger: Callable[[], Awaitable[object]],
    task_status: trio.TaskStatus[list[str]],
) -> None:
    # hypercorn needs them wherever it hosts the app; the native front end never does.
    hostfixes.install()
    config = hypercorn_config(settings)
    hostfixes.attach_connection_limits(config, limits)
    # hypercorn.trio.serve opens its own sockets; its worker (what `hypercorn` runs in each
    # worker process) takes ours.
    await worker_serve(
        # hypercorn types scopes as TypedDicts, the app plain ASGI mappings.
        wrap_app(app, config.wsgi_max_body_size, "asgi"),  # type: ignore[arg-type]
        config,
        sockets=Sockets(
            secure_sockets=list(sockets) if config.ssl_enabled else [],
            insecure_sockets=[] if config.ssl_enabled else list(sockets),
            quic_sockets=[],
        ),
        shutdown_trigger=shutdown_trigger,  # type: ignore[arg-type]
        task_status=task_status,
    )
