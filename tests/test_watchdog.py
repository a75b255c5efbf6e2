"""The test suite's watchdog: a hung trio test fails with its tasks' stacks, others are as run.

These are plain tests that call ``run_watched`` themselves, so a short limit does not apply
to the test running them.
"""

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.support.watchdog import run_watched

SHORT_LIMIT = 0.2


async def waits_forever_on(event: trio.Event) -> None:
    await event.wait()


async def two_tasks_that_hang() -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waits_forever_on, trio.Event(), name="the waiter")
        await trio.sleep_forever()


def test_a_hung_test_fails_with_where_each_task_waits() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        run_watched(two_tasks_that_hang, limit=SHORT_LIMIT)
    report = str(failed.value)
    assert report.startswith("still running after 0 s; its tasks waited here:")
    assert "task the waiter:" in report
    assert "in waits_forever_on" in report
    assert "in two_tasks_that_hang" in report


def test_virtual_time_does_not_hide_a_hang() -> None:
    """MockClock's autojump skips timers, not a wait for an event nothing will set."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    with pytest.raises(pytest.fail.Exception, match="in waits_forever_on"):
        run_watched(waits_forever_on, trio.Event(), limit=SHORT_LIMIT, clock=clock)


def test_virtual_hours_are_not_a_hang() -> None:
    async def sleeps_for_hours() -> str:
        await trio.sleep(3 * 3600)
        return "slept"

    clock = trio.testing.MockClock(autojump_threshold=0)
    assert run_watched(sleeps_for_hours, limit=SHORT_LIMIT, clock=clock) == "slept"


def test_a_test_that_ends_in_time_is_untouched() -> None:
    async def fails_on_its_own() -> None:
        await trio.lowlevel.checkpoint()
        raise AssertionError("the test's own failure")

    with pytest.raises(AssertionError, match="the test's own failure"):
        run_watched(fails_on_its_own, limit=SHORT_LIMIT)


async def test_the_suite_runs_trio_tests_under_the_watchdog(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("trio")
    assert marker is not None
    assert marker.kwargs["run"] is run_watched
