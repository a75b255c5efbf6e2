"""Token buckets, with time passed in."""

import pytest

from minidiscord.limits import KeyedBuckets, Rate, SettingsFormatError, TokenBucket, parse_rate


def test_burst_then_steady_rate() -> None:
    bucket = TokenBucket(Rate(burst=3, per_second=2.0), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(10.0) == 0.0


def test_keys_are_independent_and_idle_keys_are_forgotten() -> None:
    buckets = KeyedBuckets(Rate(burst=1, per_second=1.0))
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0.0
    assert len(buckets) == 2
    buckets.take("c", 100.0)
    assert len(buckets) == 1


def test_off_means_unlimited() -> None:
    buckets = KeyedBuckets(parse_rate("off"))
    assert all(buckets.take("a", 0.0) == 0.0 for _ in range(1000))


@pytest.mark.parametrize("text", ["10", "x:1", "0:1", "10:0", "10:-1", ":"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(SettingsFormatError):
        parse_rate(text)


def test_rate_round_trips() -> None:
    assert str(parse_rate("10:1")) == "10:1"
    assert parse_rate("5:0.5") == Rate(5, 0.5)
