"""Store fixtures: each backend opened through the factory, its writer in the test's nursery."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minidiscord.chat.store.factory import RunnableStore, open_store


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[RunnableStore]:
    opened = open_store(request.param, str(tmp_path / "chat.db"))
    await nursery.start(opened.run)
    yield opened
    await opened.close()
