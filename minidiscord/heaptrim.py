"""Give the heap's freed memory back to the system after a burst.

A connect storm hands every connecting user a `users` list of up to a few hundred KB. Once
they are written the process no longer needs that memory, but glibc keeps it: the heap
returns memory only from its top, and its threshold for giving big blocks their own mmap
rises with the biggest block freed, so the lists land in the heap and fragment it. After a
2,000-user storm the server kept 34-57 KiB per user resident where 25 were alive
(docs/benchmarks.md). ``malloc_trim`` returns the free pages inside the heap too.

It runs now and then, only when the heap holds enough free memory to matter: what a trim
returns is faulted back in when used again. A fixed mmap threshold was measured instead and
rejected: it freed the memory at once but made a 2,000-user storm cost 30-50% more server
CPU, every big list paying its own page faults (a microVM makes them dear).
"""

import ctypes
import ctypes.util
from typing import Protocol

import trio

# How often the heap is looked at, and the free memory worth a trim. 16 MB kept about 10 MB
# (5 KiB a user) after a 2,000-user storm on hypercorn, its free memory under the bar: 28
# KiB a user resident after a trim, 33 without (docs/benchmarks.md). A trim that finds
# nothing to return takes microseconds.
TRIM_EVERY = 10.0
TRIM_ABOVE = 4 * 1024 * 1024


class Heap(Protocol):
    def free_bytes(self) -> int:
        """Bytes the allocator holds free (not in use, not yet given back)."""
        ...

    def trim(self) -> None:
        """Give what it can of them back to the system."""
        ...


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class GlibcHeap:
    """glibc's heap, through ``mallinfo2`` (glibc 2.33 and later) and ``malloc_trim``."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._mallinfo2 = libc.mallinfo2
        self._mallinfo2.argtypes = ()
        self._mallinfo2.restype = _MallInfo2
        self._malloc_trim = libc.malloc_trim
        self._malloc_trim.argtypes = (ctypes.c_size_t,)
        self._malloc_trim.restype = ctypes.c_int

    def free_bytes(self) -> int:
        info = self._mallinfo2()
        return int(info.fordblks + info.fsmblks)

    def trim(self) -> None:
        self._malloc_trim(0)


def process_heap() -> Heap | None:
    """This process's heap if it is glibc's; None on another C library."""
    try:
        return GlibcHeap(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"))
    except (OSError, AttributeError):
        return None


async def trim_after_bursts(heap: Heap | None) -> None:
    """Every ``TRIM_EVERY`` seconds, trim the heap if it holds more than ``TRIM_ABOVE`` free.

    glibc still counts the pages a trim returned as free, so after a burst the heap is
    trimmed at each look until the memory is used again; a trim with nothing left to
    return takes microseconds (measured: 4.4 ms for 53 MB the first time, 0.01 ms after)."""
    if heap is None:
        return
    while True:
        await trio.sleep(TRIM_EVERY)
        if heap.free_bytes() > TRIM_ABOVE:
            heap.trim()
