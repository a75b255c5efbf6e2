"""The chat's end-to-end suite again, every server backed by a SqliteStore on a fresh file.

The tests are tests/chat/test_chat_e2e.py's own, collected here a second time; only the
`start_server` fixture (through which `server` and `clients` make their servers) differs:
its apps open the SQLite store, whose writer their lifespan starts and stops.
"""

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from minidiscord.app import App, ChatApp, create_app
from minidiscord.chat.store.sqlite import SqliteStore
from tests.chat.test_chat_e2e import *  # noqa: F403
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory, server_factory


@pytest.fixture
async def start_server(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    files = itertools.count()

    def sqlite_app(**overrides: Any) -> App:
        db = str(tmp_path / f"chat{next(files)}.db")
        return create_app(replace(TEST_SETTINGS, store="sqlite", db_path=db, **overrides))

    async with server_factory(nursery, sqlite_app) as start:
        yield start


@pytest.fixture(name="layout")
def one_node_layout() -> int:
    """The clients on one server: the two-node cluster variant is tests/chat's own."""
    return 1


async def test_the_servers_here_store_in_sqlite(server: RunningServer) -> None:
    assert isinstance(server.app, ChatApp)
    assert isinstance(server.app.store, SqliteStore)
    assert await server.app.store.healthy()
