"""Giving the heap's freed memory back (minidiscord/heaptrim.py): when, on stopped time, and
that glibc's trim really returns a burst's memory, in a fresh interpreter (the allocator's
state is per process)."""

import json
import os
import subprocess
import sys

import pytest
import trio
import trio.testing

from benchkit.processes import ROOT
from minidiscord.heaptrim import TRIM_ABOVE, TRIM_EVERY, process_heap, trim_after_bursts


class ScriptedHeap:
    """A heap whose free bytes the test sets; it records its trims' times. As glibc's, it
    counts the pages a trim returned as free still."""

    def __init__(self) -> None:
        self.free = 0
        self.trims: list[float] = []

    def free_bytes(self) -> int:
        return self.free

    def trim(self) -> None:
        self.trims.append(trio.current_time())


async def test_the_heap_is_trimmed_while_enough_is_free(
    autojump_clock: trio.testing.MockClock,
) -> None:
    heap = ScriptedHeap()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trim_after_bursts, heap)
        await trio.sleep(TRIM_EVERY * 3 + 1)
        assert heap.trims == []  # nothing free: never trimmed
        heap.free = TRIM_ABOVE  # not above
        await trio.sleep(TRIM_EVERY)
        assert heap.trims == []
        heap.free = TRIM_ABOVE + 1  # a burst's worth
        await trio.sleep(TRIM_EVERY * 2)
        assert heap.trims == [TRIM_EVERY * 5, TRIM_EVERY * 6]  # at each look
        heap.free = 1000  # used again
        await trio.sleep(TRIM_EVERY * 3)
        assert heap.trims == [TRIM_EVERY * 5, TRIM_EVERY * 6]
        nursery.cancel_scope.cancel()


async def test_without_a_known_heap_nothing_runs() -> None:
    with trio.fail_after(1):
        await trim_after_bursts(None)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


# A burst of big blocks from the heap, each behind a small block still in use, then freed:
# the heap's top stays in use, so glibc's own trim at a free returns nothing. (The probe sets
# the allocator's thresholds so that the blocks come from the heap whatever glibc's state.)
PROBE = """
import ctypes, json
from minidiscord.heaptrim import process_heap

def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 256 * 1024 * 1024)  # M_MMAP_THRESHOLD: no big block gets its own mmap
libc.mallopt(-1, 1024 * 1024 * 1024)  # M_TRIM_THRESHOLD: no trim at a free
heap = process_heap()
blocks, kept = [], []
for n in range(200):
    blocks.append(b"x" * 300_000)
    kept.append(b"k" * 600)
del blocks
free, before = heap.free_bytes(), resident()
heap.trim()
print(json.dumps({"free": free, "returned": before - resident()}))
"""


@pytest.mark.skipif(process_heap() is None, reason="the trim is glibc's")
def test_a_trim_gives_a_bursts_freed_heap_back_to_the_system() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    # 200 blocks of 300 KB freed: 60 MB free in the heap, more than enough to trim...
    assert result["free"] > 50_000_000 > TRIM_ABOVE
    # ...and the trim gives most of it back: resident memory falls by 40 MB or more.
    assert result["returned"] > 40_000_000
