"""drop_stale_front: the windows kept in insertion-ordered dicts (recently left users, users
lately offline, recovery sessions) drop their stale front and nothing else."""

from hypothesis import given
from hypothesis import strategies as st

from minidiscord.oldest_first import drop_stale_front


@given(st.lists(st.integers(0, 100)), st.integers(0, 100))
def test_only_the_stale_front_goes(times: list[int], threshold: int) -> None:
    entries = {f"k{index}": at for index, at in enumerate(times)}
    drop_stale_front(entries, lambda at: at < threshold)
    # Everything up to the first fresh entry is gone; from it on, all stays in order,
    # stale or not (only the front is walked).
    first_fresh = next((i for i, at in enumerate(times) if at >= threshold), len(times))
    assert list(entries.items()) == [(f"k{i}", times[i]) for i in range(first_fresh, len(times))]
