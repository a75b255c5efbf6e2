"""Where a test's chat runs: on one server, or spread over several nodes of one cluster on a
private redis-server, so that one test proves a scenario both ways.

Tests ask for the ``start_chat`` fixture (tests/conftest.py): ``await start_chat(**overrides)``
returns the chat's nodes, as many as the ``layout`` fixture says (by default the test runs
twice: on one node and on two). The test's clients take turns between the nodes
(``nodes[i % len(nodes)]``), so each scenario crosses nodes wherever two clients meet. A test
that wants other layouts says so with :func:`spread_over`.
"""

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.redisserver import RedisServer, redis_server
from tests.support.servers import RunningServer, ServerFactory, start_nodes

NAMES = {1: "one node", 2: "two nodes", 3: "three nodes"}
# What a test that asks for ``layout`` runs on unless it says otherwise.
DEFAULT_LAYOUTS = (1, 2)

ChatFactory = Callable[..., Awaitable[list[RunningServer]]]


def layout_ids(counts: tuple[int, ...]) -> list[str]:
    return [NAMES[count] for count in counts]


def spread_over(*counts: int) -> pytest.MarkDecorator:
    """Run the test once per number of nodes in ``counts`` (instead of one and two)."""
    return pytest.mark.parametrize("layout", counts, ids=layout_ids(counts))


@asynccontextmanager
async def chat_layout(
    start: ServerFactory, nodes: int, directory: Path
) -> AsyncIterator[ChatFactory]:
    """A function that starts a chat on ``nodes`` nodes with the settings ``overrides`` it
    is given, and returns them: one server of ``start`` (the ``start_server`` fixture, so a
    module's own servers too), or ``nodes`` nodes of one cluster on a redis-server in
    ``directory`` (started at the first call, killed when the block ends; each call's
    cluster has a key prefix of its own, so each call is a chat of its own, as on one node).
    """
    prefixes = (f"chat{n}" for n in itertools.count())
    async with AsyncExitStack() as stack:
        redis: RedisServer | None = None

        async def start_chat(**overrides: Any) -> list[RunningServer]:
            nonlocal redis
            if nodes == 1:
                return [await start(**overrides)]
            if redis is None:
                redis = await stack.enter_async_context(redis_server(directory))
            return await start_nodes(
                start, redis.url, nodes, redis_prefix=next(prefixes), **overrides
            )

        yield start_chat
