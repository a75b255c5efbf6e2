"""Serving an app with the front end its settings name: hypercorn or the native one."""

import logging
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ..asgi_io import ASGIApp
from ..config import Settings
from ..hostfixes import attach_connection_limits
from .connlimits import ConnectionLimits
from .context import FrontendConfig
from .server import NativeServer


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
    config.websocket_max_message_size = settings.max_payload + 1
    config.graceful_timeout = settings.shutdown_timeout
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
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on the settings' host and port until ``shutdown_trigger`` returns."""
    limits = ConnectionLimits.for_settings(settings)
    if settings.frontend == "native":
        server = NativeServer(app, native_config(settings), limits)
        await server.serve(settings.host, settings.port, shutdown_trigger, task_status=task_status)
    else:
        config = hypercorn_config(settings)
        attach_connection_limits(config, limits)
        await hypercorn_serve(
            app,  # type: ignore[arg-type]  # hypercorn's TypedDict scopes vs plain ASGI
            config,
            shutdown_trigger=shutdown_trigger,  # type: ignore[arg-type]
            task_status=task_status,
        )
