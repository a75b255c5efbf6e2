"""Shared fixtures: real servers, in-process, on loopback ports (see tests/support)."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from hypothesis import settings as hypothesis_settings

from tests.support.layouts import DEFAULT_LAYOUTS, ChatFactory, chat_layout, layout_ids
from tests.support.redisserver import RedisServer, redis_server
from tests.support.servers import RunningServer, ServerFactory, server_factory
from tests.support.tls import ServerCertificate, make_certificate
from tests.support.watchdog import mark_trio_tests

# Property tests explore new inputs on every local run; CI replays a fixed exploration so a
# submission's result does not depend on luck, and never fails on a slow machine's timing.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


@pytest.hookimpl(trylast=True)  # after pytest-trio has marked the trio tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests start Chromium and wait on a page in real time: seconds each. A trio
    test still running after minutes fails (tests/support/watchdog.py)."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)
    mark_trio_tests(items)


@pytest.fixture
async def start_server(nursery: trio.Nursery) -> AsyncIterator[ServerFactory]:
    """Start servers of the chat app with settings overridden by keyword arguments."""
    async with server_factory(nursery) as start:
        yield start


@pytest.fixture
async def server(start_server: ServerFactory) -> RunningServer:
    return await start_server()


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private redis-server for this test (see tests/support/redisserver.py)."""
    async with redis_server(tmp_path / "redis") as running:
        yield running


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    """A server certificate for the loopback names, signed by a CA made for this run."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=DEFAULT_LAYOUTS, ids=layout_ids(DEFAULT_LAYOUTS))
def layout(request: pytest.FixtureRequest) -> int:
    """How many nodes ``start_chat`` runs the chat on: one server, or nodes of one cluster
    (tests/support/layouts.py; a test chooses others with ``spread_over``)."""
    nodes: int = request.param
    return nodes


@pytest.fixture
async def start_chat(
    start_server: ServerFactory, layout: int, tmp_path: Path
) -> AsyncIterator[ChatFactory]:
    """``await start_chat(**overrides)``: a chat's nodes, ``layout`` of them."""
    async with chat_layout(start_server, layout, tmp_path / "layout-redis") as start:
        yield start
