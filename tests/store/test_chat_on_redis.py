"""The chat's end-to-end suite again, every server backed by a RedisStore on a private
redis-server.

The tests are tests/chat/test_chat_e2e.py's own, collected here a third time (after the
memory store's and tests/store/test_chat_on_sqlite.py's); only the `start_server` fixture
differs: its apps are given a Redis URL, each server its own key prefix (a chat of its own).
"""

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import trio

from minidiscord.app import App, ChatApp, create_app
from minidiscord.chat.store.redis import RedisStore
from minidiscord.redis.target import parse_redis_url
from tests.chat.test_chat_e2e import *  # noqa: F403
from tests.support.redisserver import RedisServer
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory, server_factory


@pytest.fixture
async def start_server(nursery: trio.Nursery, redis: RedisServer) -> AsyncIterator[ServerFactory]:
    chats = itertools.count()
    target = parse_redis_url(redis.url)

    def redis_app(**overrides: Any) -> App:
        settings = replace(
            TEST_SETTINGS, redis_url=target, redis_prefix=f"chat{next(chats)}", **overrides
        )
        return create_app(settings)

    async with server_factory(nursery, redis_app) as start:
        yield start


@pytest.fixture(name="layout")
def one_node_layout() -> int:
    """The clients on one server: the two-node cluster variant is tests/chat's own."""
    return 1


async def test_the_servers_here_store_in_redis(server: RunningServer) -> None:
    assert isinstance(server.app, ChatApp)
    assert isinstance(server.app.store, RedisStore)
    assert await server.app.store.healthy()
