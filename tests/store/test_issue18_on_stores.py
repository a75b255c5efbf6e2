"""tests/chat/test_edits.py, test_reactions.py and test_search.py again, every server backed
by SQLite (a fresh file each) and by Redis (cluster mode, one node: every change goes
through the log)."""

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from minidiscord.app import App, create_app
from minidiscord.redis.target import parse_redis_url
from tests.chat.test_edits import *  # noqa: F403
from tests.chat.test_reactions import *  # noqa: F403
from tests.chat.test_search import *  # noqa: F403
from tests.support.redisserver import redis_server
from tests.support.servers import TEST_SETTINGS, ServerFactory, server_factory


@pytest.fixture(params=["sqlite", "redis"])
async def start_server(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[ServerFactory]:
    made = itertools.count()
    if request.param == "sqlite":

        def sqlite_app(**overrides: Any) -> App:
            db = str(tmp_path / f"chat{next(made)}.db")
            return create_app(replace(TEST_SETTINGS, store="sqlite", db_path=db, **overrides))

        async with server_factory(nursery, sqlite_app) as start:
            yield start
        return
    # A private redis-server for this backend only (it skips, or fails in CI, without one).
    async with redis_server(tmp_path / "redis") as redis:
        target = parse_redis_url(redis.url)

        def redis_app(**overrides: Any) -> App:
            settings = replace(
                TEST_SETTINGS, redis_url=target, redis_prefix=f"chat{next(made)}", **overrides
            )
            return create_app(settings)

        async with server_factory(nursery, redis_app) as start:
            yield start
