"""Our server in-process on a loopback port, on the front end the suite runs on.

The whole suite runs on either front end (the Makefile runs it on both), chosen by
``MINIDISCORD_FRONTEND``; servers the tests start as processes read the same variable.
"""

import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import trio

from minidiscord import serve as serve_asgi
from minidiscord.app import App, create_app
from minidiscord.asgi_io import ASGIApp
from minidiscord.chat.accounts.hashing import CHEAPEST
from minidiscord.config import Settings, parse_frontend
from minidiscord.frontend.hosting import serve
from minidiscord.redis.connection import DEFAULT_CALL_TIMEOUT
from minidiscord.redis.target import parse_redis_url


@dataclass
class RunningServer:
    app: App
    url: str
    port: int
    shutdown: trio.Event

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    async def stop_as_the_command_does(self) -> None:
        """What `minidiscord` does on SIGTERM: close every client's transport cleanly (its
        client reconnects), then stop the front end and the lifespan (not waited for)."""
        await self.app.engine.drain(self.app.settings.shutdown_timeout)
        self.shutdown.set()


ServerFactory = Callable[..., Awaitable[RunningServer]]

# Tests run with short heartbeats so that a lost peer is found quickly.
# Limits are off unless a test is about them: tests connect and send faster than people.
TEST_SETTINGS = Settings(
    host="127.0.0.1",
    port=0,
    ping_interval=5.0,
    ping_timeout=5.0,
    # Stopping takes a second at most, unless a test is about what a stop holds (the
    # presence grace of a cluster's node: `holding_users_on_shutdown`).
    shutdown_timeout=1.0,
    store="memory",
    rate_limit=None,
    history_rate=None,
    ip_new_user_rate=None,
    ip_message_rate=None,
    ip_connect_rate=None,
    ip_max_sessions=None,
    ip_connection_rate=None,
    client_packet_rate=None,
    # Off unless a test is about them, like the limits: recovery appends an offset to every
    # event the chat sends (which tests reading exact arguments would have to strip), and
    # the presence grace delays every user:disconnect.
    recovery_window=0.0,
    presence_grace=0.0,
    # Off like the other limits; argon2 at its cheapest, so logins cost tests nothing.
    login_rate=None,
    ip_login_rate=None,
    password_cost=CHEAPEST,
    frontend=parse_frontend(
        os.environ.get("MINIDISCORD_FRONTEND", "native"), "MINIDISCORD_FRONTEND"
    ),
)


def chat_app(**overrides: Any) -> App:
    """The chat app on ``TEST_SETTINGS`` with ``overrides``."""
    return create_app(replace(TEST_SETTINGS, **overrides))


async def serve_app(nursery: trio.Nursery, app: App) -> RunningServer:
    """Serve ``app`` on a free loopback port until the returned server's ``shutdown``."""
    # The app's own shutdown timeout: a cluster's node fits its grace and its goodbye in it.
    settings = replace(app.settings, host="127.0.0.1", port=0)
    shutdown = trio.Event()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(app, settings, shutdown.wait, task_status=task_status)

    binds: list[str] = await nursery.start(run)
    url = binds[0]
    return RunningServer(app=app, url=url, port=int(url.rsplit(":", 1)[1]), shutdown=shutdown)


@dataclass
class RunningApp:
    """Any ASGI app (a standalone SocketServer) served by :func:`serve_any_app`."""

    app: ASGIApp
    url: str
    port: int
    shutdown: trio.Event

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


async def serve_any_app(nursery: trio.Nursery, app: ASGIApp) -> RunningApp:
    """Serve ``app`` with :func:`minidiscord.serve` (what a program serving its own
    SocketServer calls) on the suite's front end, on a free loopback port, until the returned
    server's ``shutdown``."""
    shutdown = trio.Event()
    urls: list[str] = await nursery.start(
        functools.partial(
            serve_asgi,
            app,
            host="127.0.0.1",
            port=0,
            frontend=TEST_SETTINGS.frontend,
            shutdown_trigger=shutdown.wait,
            shutdown_timeout=1.0,
        )
    )
    url = urls[0]
    return RunningApp(app=app, url=url, port=int(url.rsplit(":", 1)[1]), shutdown=shutdown)


@asynccontextmanager
async def server_factory(
    nursery: trio.Nursery, make_app: Callable[..., App] = chat_app
) -> AsyncIterator[ServerFactory]:
    """A function that starts servers (of ``make_app(**overrides)``, or of the app it is
    given); every one it started shuts down when the block ends."""
    started: list[RunningServer] = []

    async def start(app: App | None = None, **overrides: Any) -> RunningServer:
        server = await serve_app(nursery, make_app(**overrides) if app is None else app)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.shutdown.set()


def holding_users_on_shutdown(grace: float) -> dict[str, float]:
    """Overrides for a cluster's nodes that, when they stop, hold their users online for
    ``grace`` seconds (for their clients to come back on another node), then say goodbye:
    a shutdown timeout long enough for both (the goodbye's Redis calls are each bounded)."""
    return {"presence_grace": grace, "shutdown_timeout": grace + 2 * DEFAULT_CALL_TIMEOUT + 1.0}


async def start_nodes(
    start: ServerFactory, redis_url: str, count: int, **overrides: Any
) -> list[RunningServer]:
    """``count`` chat nodes of one cluster (cluster mode on the Redis at ``redis_url``),
    started by ``start`` (the ``start_server`` fixture) with the same ``overrides``."""
    target = parse_redis_url(redis_url)
    return [await start(redis_url=target, **overrides) for _ in range(count)]
