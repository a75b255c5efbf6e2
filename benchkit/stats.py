"""Numbers the scripts report: a latency histogram, percentiles, and readings of processes
and the machine (from Linux's /proc; None elsewhere or once a process is gone)."""

from __future__ import annotations

import contextlib
import math
import os
import resource
from dataclasses import dataclass, field
from typing import Any

# Log-linear buckets: exact below 128 us, then 64 buckets per power of two (<= 1.6% error).
# A histogram is cheap to record into on the hot path and merges across processes by addition.
_SUB_BITS = 6
_SUB = 1 << _SUB_BITS


def bucket_of(us: int) -> int:
    if us < 2 * _SUB:
        return max(us, 0)
    shift = us.bit_length() - (_SUB_BITS + 1)
    return shift * _SUB + (us >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The [low, high) microsecond range a bucket covers."""
    if index < 2 * _SUB:
        return index, index + 1
    shift = index // _SUB - 1
    low = (index - shift * _SUB) << shift
    return low, low + (1 << shift)


@dataclass
class Histogram:
    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    max_us: int = 0

    def record(self, us: int) -> None:
        index = bucket_of(us)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: Histogram) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def percentile_us(self, pct: float) -> float | None:
        """The value below which pct percent of the samples fall (bucket midpoint)."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(pct / 100.0 * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                low, high = bucket_bounds(index)
                middle = low if high - low == 1 else (low + high) / 2
                return float(min(middle, self.max_us))
        return float(self.max_us)

    def summary_ms(self) -> dict[str, float | None]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value / 1000.0, 3)

        return {
            "p50": ms(self.percentile_us(50)),
            "p90": ms(self.percentile_us(90)),
            "p99": ms(self.percentile_us(99)),
            "max": ms(float(self.max_us) if self.total else None),
        }

    def to_json(self) -> dict[str, Any]:
        return {"counts": sorted(self.counts.items()), "total": self.total, "max_us": self.max_us}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        counts = {int(index): int(count) for index, count in data["counts"]}
        return cls(counts=counts, total=int(data["total"]), max_us=int(data["max_us"]))


def percentile_ms(samples: list[float], pct: float) -> float | None:
    """The ``pct`` percentile of ``samples`` (seconds) in milliseconds, nearest rank."""
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return round(ordered[index] * 1000, 3)


def rss_kib(pid: int) -> int | None:
    """A process's resident memory (VmRSS) in KiB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid: int) -> int | None:
    """How many file descriptors a process has open."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user and system) a process has used."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); index 11/12 after the comm field.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_delay_s(pid: int) -> float | None:
    """Seconds a process's main thread has spent ready to run but waiting for a core
    (Linux's /proc/PID/schedstat): what the machine's other work cost it."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    """CPU seconds (user and system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float | None:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    """Raise the open-files limit to its hard maximum (children inherit it: 10,000 sockets
    need as many descriptors); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
