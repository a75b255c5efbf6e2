"""A test that hangs fails, naming where its tasks wait, instead of holding up the whole run.

CI gives the run a fixed time: one test waiting forever (a lost wake-up, a peer that never
answers) would spend all of it and report nothing but the last progress dot. So every trio
test runs under a limit in real time (a thread's timer: MockClock's virtual time never
reaches it). At the limit the await stack of each of its tasks is recorded, the test is
cancelled, and it fails with those stacks. A test that cancelling cannot end (stuck outside
trio, in a shielded wait, or not a trio test) is ended with its process a minute later by
pytest's faulthandler (``faulthandler_timeout`` in pyproject.toml), which writes every
thread's stack first; pytest-xdist reports the test whose worker died and starts another.
"""

import contextlib
import threading
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.support.tasks import all_tasks

TRIO_PACKAGE = Path(trio.__file__).parent

# The slowest test takes about a minute on a loaded CI machine (`make test` prints the
# slowest twenty): five times that is a hang, not a slow test.
HANG_LIMIT = 300.0


def await_stacks() -> str:
    """Where every task of this run is waiting, innermost frame last (trio's own frames left
    out: every wait ends in the same few)."""
    sections = []
    for task in all_tasks():
        frames = [
            (frame, line)
            for frame, line in task.iter_await_frames()
            if not Path(frame.f_code.co_filename).is_relative_to(TRIO_PACKAGE)
        ]
        stack = traceback.StackSummary.extract(iter(frames), lookup_lines=True)
        sections.append(f"task {task.name}:\n" + "".join(stack.format()))
    return "\n".join(sections)


class _Watch:
    """One trio test under the limit: the run's token, the test's scope, what it was doing."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.stacks: str | None = None

    async def run(self, test: Callable[[], Awaitable[object]]) -> object:
        token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            timer = threading.Timer(self.limit, self._expire_soon, (token, scope))
            timer.daemon = True
            timer.start()
            try:
                return await test()
            finally:
                timer.cancel()
        return None

    def _expire_soon(self, token: trio.lowlevel.TrioToken, scope: trio.CancelScope) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(self._expire, scope)

    def _expire(self, scope: trio.CancelScope) -> None:
        self.stacks = await_stacks()
        scope.cancel()

    def fail_if_expired(self) -> None:
        # What cancelling the test raised (pytest-trio's complaint that a fixture cancelled
        # it, say) is left out: the stacks are the story.
        if self.stacks is not None:
            message = f"still running after {self.limit:.0f} s; its tasks waited here:\n"
            raise pytest.fail.Exception(message + self.stacks, pytrace=False) from None


def run_watched(
    test: Callable[..., Awaitable[object]], *args: object, limit: float = HANG_LIMIT, **run: Any
) -> object:
    """``trio.run`` for pytest-trio (its ``run`` mark): fails a test still running at ``limit``."""
    watch = _Watch(limit)
    try:
        result = trio.run(watch.run, lambda: test(*args), **run)
    except BaseException:
        watch.fail_if_expired()
        raise
    watch.fail_if_expired()
    return result


def mark_trio_tests(items: list[pytest.Item]) -> None:
    """Run each trio test (pytest-trio has marked them) with ``run_watched``."""
    for item in items:
        if item.get_closest_marker("trio") is not None:
            item.add_marker(pytest.mark.trio(run=run_watched), append=False)
