"""The reconnection delays: socket.io-client's exponential backoff with jitter (pure)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidiscord.client import Backoff


def test_without_jitter_the_delays_double_up_to_the_cap() -> None:
    backoff = Backoff()
    assert [backoff.duration(n, lambda: 0.0) for n in range(6)] == [1, 2, 4, 5, 5, 5]


def test_the_draw_picks_the_direction_and_size_of_the_jitter() -> None:
    backoff = Backoff(delay=1.0, delay_max=10.0, randomization_factor=0.5)
    # 0.25: its first decimal (2) is even, so down by 0.25 * 0.5 of the delay.
    assert backoff.duration(0, lambda: 0.25) == pytest.approx(0.875)
    # 0.15: odd first decimal, so up.
    assert backoff.duration(0, lambda: 0.15) == pytest.approx(1.075)
    assert backoff.duration(2, lambda: 0.15) == pytest.approx(4.3)


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    roll=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    factor=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_delay_stays_within_the_jitter_and_the_cap(
    attempt: int, roll: float, factor: float
) -> None:
    backoff = Backoff(delay=1.0, delay_max=5.0, randomization_factor=factor)
    delay = backoff.duration(attempt, lambda: roll)
    base = 2.0 ** min(attempt, 64)
    assert 0.0 <= delay <= 5.0
    assert delay >= min(base * (1 - factor), 5.0) - 1e-9


@pytest.mark.parametrize(
    "options",
    [{"delay": -1.0}, {"delay_max": -1.0}, {"randomization_factor": 1.5}],
)
def test_impossible_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"cannot be negative|between 0 and 1"):
        Backoff(**options)
