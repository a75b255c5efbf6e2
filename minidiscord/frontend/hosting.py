"""Serving an app with the front end its settings name: hypercorn or the native one."""

import logging
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ..config import Settings
from .server import ASGIApp, FrontendConfig, NativeServer


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
    config.read_timeout = int(heartbeat_cycle(settings)) + 1
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
    if settings.frontend == "native":
        server = NativeServer(app, native_config(settings))
        await server.serve(settings.host, settings.port, shutdown_trigger, task_status=task_status)
    else:
        await hypercorn_serve(
            app,  # type: ignore[arg-type]  # hypercorn's TypedDict scopes vs plain ASGI
            hypercorn_config(settings),
            shutdown_trigger=shutdown_trigger,  # type: ignore[arg-type]
            task_status=task_status,
        )
