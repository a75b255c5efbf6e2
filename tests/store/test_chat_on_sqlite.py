"""The chat's end-to-end suite again, every server backed by a SqliteStore on a fresh file.

The tests are tests/chat/test_chat_e2e.py's own, collected here a second time; only the
`start_server` fixture (through which `server` and `clients` make their servers) differs:
its apps open the SQLite store, whose writer their lifespan starts and stops.
"""

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from minidiscord.app import App, ChatApp, create_app
from minidiscord.chat.store.sqlite import SqliteStore
from tests.chat.test_chat_e2e import *  # noqa: F403
from tests.conftest import TEST_SETTINGS, RunningServer, ServerFactory, serve_app


@pytest.fixture
async def start_server(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    started: list[RunningServer] = []

    async def start(app: App | None = None, **overrides: Any) -> RunningServer:
        if app is None:
            db = str(tmp_path / f"chat{len(started)}.db")
            app = create_app(replace(TEST_SETTINGS, store="sqlite", db_path=db, **overrides))
        server = await serve_app(nursery, app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown.set()


async def test_the_servers_here_store_in_sqlite(server: RunningServer) -> None:
    assert isinstance(server.app, ChatApp)
    assert isinstance(server.app.store, SqliteStore)
    assert await server.app.store.healthy()
