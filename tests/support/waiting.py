"""Waiting until a condition holds, instead of sleeping and hoping it already does."""

from collections.abc import Callable

import trio


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for server state the test cannot subscribe to (polled, bounded in time)."""
    with trio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - no event exists for these conditions
            await trio.sleep(0.01)
