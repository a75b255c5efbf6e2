"""Fixtures of the cluster tests."""

from collections.abc import AsyncIterator

import pytest
import trio

from tests.support.chatclient import Clients


@pytest.fixture
async def clients(nursery: trio.Nursery) -> AsyncIterator[Clients]:
    """Clients connected to any node, closed when the test ends."""
    made = Clients(nursery)
    yield made
    await made.close()
