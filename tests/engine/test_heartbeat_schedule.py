"""The heartbeat's rules with plain numbers: no server, no trio, no clock."""

import math

from minidiscord.engine.heartbeat import BUSY_LATENESS, MAX_GRACE, Due, Heartbeat, PingSchedule

INTERVAL = 25.0
TIMEOUT = 20.0


def _queued(now: float = 125.0, *, writable: bool = True) -> PingSchedule:
    """A schedule started at 100 whose ping was queued at ``now``."""
    schedule = PingSchedule(INTERVAL, TIMEOUT, 100.0)
    assert schedule.due(now, now, writable=writable) is Due.PING
    return schedule


def test_the_first_ping_is_due_an_interval_after_the_start() -> None:
    schedule = PingSchedule(INTERVAL, TIMEOUT, 100.0)
    assert schedule.state is Heartbeat.WAITING
    assert schedule.next_deadline == 125.0
    assert schedule.pong_deadline == math.inf
    assert schedule.due(124.0, 124.9, writable=True) is Due.NOTHING
    assert schedule.state is Heartbeat.WAITING


def test_a_ping_a_transport_can_write_may_wait_a_whole_cycle_to_be_written() -> None:
    schedule = _queued(125.0, writable=True)
    assert schedule.state is Heartbeat.QUEUED
    assert schedule.next_deadline == 125.0 + INTERVAL + TIMEOUT


def test_a_polling_client_with_no_poll_waiting_must_come_within_the_timeout() -> None:
    schedule = _queued(125.0, writable=False)
    assert schedule.next_deadline == 125.0 + TIMEOUT
    assert schedule.due(145.0, 145.0, writable=False) is Due.TIMEOUT


def test_the_pong_is_due_a_timeout_after_the_ping_is_written() -> None:
    schedule = _queued(125.0)
    # The ping waited behind a backlog for 30 s; the client's time starts now.
    assert schedule.ping_written(155.0)
    assert schedule.state is Heartbeat.SENT
    assert schedule.next_deadline == 175.0
    assert schedule.due(175.0, 174.0, writable=True) is Due.NOTHING
    assert schedule.due(175.0, 175.0, writable=True) is Due.TIMEOUT


def test_writing_is_only_noted_for_a_queued_ping() -> None:
    schedule = PingSchedule(INTERVAL, TIMEOUT, 100.0)
    assert not schedule.ping_written(110.0)
    assert schedule.state is Heartbeat.WAITING
    sent = _queued()
    assert sent.ping_written(126.0)
    assert not sent.ping_written(130.0)
    assert sent.next_deadline == 146.0


def test_a_pong_starts_the_next_interval() -> None:
    schedule = _queued(125.0)
    schedule.ping_written(125.0)
    assert schedule.pong(130.0)
    assert schedule.state is Heartbeat.WAITING
    assert schedule.next_deadline == 155.0
    assert schedule.pong_deadline == math.inf


def test_a_pong_while_the_ping_is_still_queued_counts() -> None:
    schedule = _queued(125.0)
    assert schedule.pong(126.0)
    assert schedule.next_deadline == 151.0


def test_a_pong_with_no_ping_out_is_ignored() -> None:
    schedule = PingSchedule(INTERVAL, TIMEOUT, 100.0)
    assert not schedule.pong(110.0)
    assert schedule.next_deadline == 125.0


def test_a_late_deadline_on_a_busy_server_is_judged_again_later() -> None:
    schedule = _queued(125.0)
    schedule.ping_written(125.0)
    # Due at 145, reached 3 s late: the pong may sit in a queue the server has not reached.
    assert schedule.due(145.0, 148.0, writable=True) is Due.NOTHING
    assert schedule.next_deadline == 151.0
    # On time this time: the client is gone.
    assert schedule.due(151.0, 151.0, writable=True) is Due.TIMEOUT


def test_lateness_within_the_tolerance_is_not_a_busy_server() -> None:
    schedule = _queued(125.0)
    schedule.ping_written(125.0)
    assert schedule.due(145.0, 145.0 + BUSY_LATENESS, writable=True) is Due.TIMEOUT


def test_the_grace_for_a_busy_server_is_bounded() -> None:
    schedule = _queued(125.0)
    schedule.ping_written(125.0)
    # The ping was due at 125; past a cycle plus MAX_GRACE no lateness postpones it.
    cutoff = 125.0 + INTERVAL + TIMEOUT + MAX_GRACE
    assert schedule.due(cutoff - 10.0, cutoff - 1.0, writable=True) is Due.NOTHING
    assert schedule.next_deadline == cutoff + 8.0
    assert schedule.due(cutoff + 8.0, cutoff + 10.0, writable=True) is Due.TIMEOUT


def test_nothing_is_due_before_the_pong_deadline() -> None:
    schedule = _queued(125.0)
    assert schedule.due(126.0, 160.0, writable=True) is Due.NOTHING
    assert schedule.state is Heartbeat.QUEUED
