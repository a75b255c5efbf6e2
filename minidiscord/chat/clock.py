"""Wall-clock time as the chat keeps it: milliseconds since the epoch (message timestamps,
last-seen times, login sessions' lifetimes). Injected wherever it is used, so tests can
move it."""

import time


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
