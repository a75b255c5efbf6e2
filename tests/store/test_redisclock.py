"""RedisClock, the pure part of the store's write deadlines: a trio deadline in Redis's time.

Redis's clock cannot be set from a test, so these feed it ``TIME`` replies as Redis sends
them (seconds and microseconds, as bytes) from a clock far from trio's.
"""

import math

import pytest

from minidiscord.chat.store.redisclock import WINDOW, RedisClock

# Redis's wall clock (seconds since the epoch) against trio's, which starts near zero.
EPOCH = 1_764_650_000


def time_reply(microseconds: int) -> list[bytes]:
    seconds, micros = divmod(microseconds, 1_000_000)
    return [str(seconds).encode(), str(micros).encode()]


def test_a_deadline_is_moved_by_the_offset_between_the_clocks() -> None:
    clock = RedisClock()
    # Redis read 1764650000.250000 when trio's clock was at 3.0 (the reply came at once).
    clock.observe(time_reply(EPOCH * 1_000_000 + 250_000), received=3.0)
    assert clock.redis_deadline(5.0) == (EPOCH + 2) * 1_000_000 + 250_000
    # Microseconds exact, far from both clocks' origins (below 2**53: exact in Lua too).
    assert clock.redis_deadline(5.000001) == (EPOCH + 2) * 1_000_000 + 250_001
    assert clock.redis_deadline(5.0) < 2**53


def test_a_reply_that_took_long_only_makes_the_deadline_earlier() -> None:
    true_offset = EPOCH * 1_000_000 - 3_000_000  # Redis's time minus trio's
    clock = RedisClock()
    # Redis read TIME at trio 3.0; its reply reached the node 1.5 s later.
    clock.observe(time_reply(3_000_000 + true_offset), received=4.5)
    deadline = clock.redis_deadline(10.0)
    assert deadline == 10_000_000 + true_offset - 1_500_000
    # A prompt reply afterwards: the closer bound wins, never beyond the true one.
    clock.observe(time_reply(6_000_000 + true_offset), received=6.0)
    assert clock.redis_deadline(10.0) == 10_000_000 + true_offset


@pytest.mark.parametrize("delay", [0.0, 0.000_4, 0.3, 2.0])
def test_the_deadline_is_never_later_than_the_node_s_whatever_the_reply_s_delay(
    delay: float,
) -> None:
    true_offset = EPOCH * 1_000_000 + 123_457
    clock = RedisClock()
    read_at = 7.654_321
    clock.observe(time_reply(round(read_at * 1_000_000) + true_offset), received=read_at + delay)
    for deadline in (7.7, 8.123_456_7, 100.0):
        # When Redis's clock reads the converted deadline, trio's has not passed it.
        assert clock.redis_deadline(deadline) - true_offset <= deadline * 1_000_000


def test_a_clock_stepped_back_is_followed_once_its_old_readings_are_out_of_the_window() -> None:
    clock = RedisClock()
    clock.observe(time_reply(EPOCH * 1_000_000), received=0.0)
    # Redis's wall clock stepped back 10 s: each reading now is a lower bound 10 s lower.
    for n in range(1, WINDOW):
        clock.observe(time_reply((EPOCH - 10 + n) * 1_000_000), received=float(n))
    assert clock.redis_deadline(0.0) == EPOCH * 1_000_000
    clock.observe(time_reply((EPOCH - 10 + WINDOW) * 1_000_000), received=float(WINDOW))
    assert clock.redis_deadline(0.0) == (EPOCH - 10) * 1_000_000


def test_nothing_is_converted_before_a_reading_or_after_forget() -> None:
    clock = RedisClock()
    assert clock.known is False
    assert clock.measured_at == -math.inf
    with pytest.raises(RuntimeError, match="not known"):
        clock.redis_deadline(1.0)
    clock.observe(time_reply(EPOCH * 1_000_000), received=1.0)
    assert clock.known is True
    assert clock.measured_at == 1.0
    clock.forget()
    assert clock.known is False
    assert clock.measured_at == -math.inf
    with pytest.raises(RuntimeError, match="not known"):
        clock.redis_deadline(1.0)
