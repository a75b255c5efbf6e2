"""Shared fixtures: real hypercorn servers, in-process, on loopback ports."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import trio
from hypothesis import settings as hypothesis_settings

from minidiscord.app import App, create_app
from minidiscord.config import Settings
from minidiscord.frontend.hosting import serve

# Property tests explore new inputs on every local run; CI replays a fixed exploration so a
# submission's result does not depend on luck, and never fails on a slow machine's timing.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


@dataclass
class RunningServer:
    app: App
    url: str
    port: int
    shutdown: trio.Event

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


ServerFactory = Callable[..., Awaitable[RunningServer]]

# Tests run with short heartbeats so that a lost peer is found quickly.
# Limits are off unless a test is about them: tests connect and send faster than people.
TEST_SETTINGS = Settings(
    host="127.0.0.1",
    port=0,
    ping_interval=5.0,
    ping_timeout=5.0,
    store="memory",
    rate_limit=None,
    history_rate=None,
    ip_new_user_rate=None,
    ip_message_rate=None,
    ip_connect_rate=None,
    ip_max_sessions=None,
    client_packet_rate=None,
    # The whole suite runs on either front end (the Makefile runs it on both); servers the
    # tests start as processes read the same variable.
    frontend=os.environ.get("MINIDISCORD_FRONTEND", "hypercorn"),
)


async def serve_app(nursery: trio.Nursery, app: App) -> RunningServer:
    settings = replace(app.settings, host="127.0.0.1", port=0, shutdown_timeout=1.0)
    shutdown = trio.Event()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(app, settings, shutdown.wait, task_status=task_status)

    binds: list[str] = await nursery.start(run)
    url = binds[0]
    return RunningServer(app=app, url=url, port=int(url.rsplit(":", 1)[1]), shutdown=shutdown)


@pytest.fixture
async def start_server(nursery: trio.Nursery) -> AsyncIterator[ServerFactory]:
    """Start servers of the chat app with settings overridden by keyword arguments."""
    started: list[RunningServer] = []

    async def start(app: App | None = None, **overrides: Any) -> RunningServer:
        if app is None:
            app = create_app(replace(TEST_SETTINGS, **overrides))
        server = await serve_app(nursery, app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown.set()


@pytest.fixture
async def server(start_server: ServerFactory) -> RunningServer:
    return await start_server()
