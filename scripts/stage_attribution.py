"""Where a run's slowest deliveries spent their time, from the nodes' stage traces.

The nodes write their traces at exit (``minidiscord/chat/stages.py``, switched on by
``MINIDISCORD_STAGE_TRACE``); the load generator's texts carry their send time. For each
message sent in a run's window, its path to the receivers' node is cut into segments that
add up to the whole (send to shown on that node), and the run's slowest percent of
messages says which segment held them. What comes after "shown" (writing to each socket,
the load generator reading it) is the load generator's latency less these.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit.stats import percentile_ms
from minidiscord.runtime import GcPauses, Pause
from scripts.loadtest import parse_text

# (name, from, to): consecutive, so they add up to "sent" to "shown". "sent" is the load
# generator's stamp; "received", "issued" and "ack" the sender's node's; "read" and
# "shown" the receivers' node's.
SEGMENTS = (
    ("to the sender's node", "sent", "received"),
    ("waiting for the writer", "received", "issued"),
    ("stored and read back", "issued", "read"),
    ("applied", "read", "shown"),
)
# Shown apart, not part of the sum: the write's round trip as its writer saw it (Redis's
# fsync is in it), and the sender's ack.
ASIDE = (
    ("write round trip", "issued", "acked"),
    ("send to ack", "sent", "ack"),
)
SENDER_POINTS = ("received", "issued", "acked", "ack")
RECEIVER_POINTS = ("read", "shown")
# The slowest share of a run's messages, whose segments are shown apart.
TAIL_SHARE = 0.01


@dataclass
class NodeTrace:
    stages: dict[int, dict[str, float]]
    texts: dict[int, str]
    gc: GcPauses

    @classmethod
    def load(cls, path: Path) -> NodeTrace:
        raw = json.loads(path.read_text())
        return cls(
            stages={int(key): value for key, value in raw["stages"].items()},
            texts={int(key): value for key, value in raw["texts"].items()},
            gc=pauses(raw["gc_pauses"]),
        )


def timelines(
    sender: NodeTrace, receiver: NodeTrace, window: tuple[float, float]
) -> list[dict[str, float]]:
    """Each message the sender's node took with a send stamp in ``window``: its points,
    "read" and "shown" being the receivers' node's."""
    out = []
    for number, text in sender.texts.items():
        found = parse_text(text)
        if found is None or not window[0] <= found[1] <= window[1]:
            continue
        own = sender.stages.get(number, {})
        seen = receiver.stages.get(number, {})
        points: dict[str, float] = {"sent": found[1]}
        points.update((k, own[k]) for k in SENDER_POINTS if k in own)
        points.update((k, seen[k]) for k in RECEIVER_POINTS if k in seen)
        if all(k in points for k in ("received", "issued", "read", "shown")):
            out.append(points)
    return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _fsync_stalled(line: dict[str, float], fsyncs: dict[int, int]) -> bool:
    """Whether Redis fsynced for at least half the message's "stored and read back" in a
    second its store spanned (Redis notes one figure per second: the longest)."""
    seconds = range(int(line["issued"]), int(line["read"]) + 1)
    stall_ms = max((fsyncs.get(second, 0) for second in seconds), default=0)
    return stall_ms >= 1000 * (line["read"] - line["issued"]) / 2


def pauses(listed: list[list[float]]) -> GcPauses:
    """A process's GC pauses as its trace lists them."""
    found = GcPauses()
    found.pauses = [Pause(start, seconds, int(gen), cpu) for start, seconds, gen, cpu in listed]
    return found


def _overlaps(trace: NodeTrace, start: float, end: float) -> bool:
    return any(p.start < end and p.start + p.seconds > start for p in trace.gc.pauses)


def attribute(
    sender: NodeTrace,
    receiver: NodeTrace,
    window: tuple[float, float],
    fsyncs: dict[int, int] | None = None,
) -> dict[str, Any] | None:
    """A run's segments (p50, p99, max, and their median over the slowest messages), its
    GC pauses; and for its slowest messages, which segment was the longest of each, how
    many had a pause within their path, and (given Redis's longest fsync per second,
    ``fsyncs``) how many were stored in a second with an fsync of at least half their
    "stored and read back"."""
    lines = timelines(sender, receiver, window)
    if not lines:
        return None
    total = [line["shown"] - line["sent"] for line in lines]
    order = sorted(range(len(lines)), key=total.__getitem__, reverse=True)
    tail = [lines[i] for i in order[: max(1, round(len(lines) * TAIL_SHARE))]]
    segments: dict[str, Any] = {}
    for name, start, end in (*SEGMENTS, ("sent to shown", "sent", "shown"), *ASIDE):
        values = [line[end] - line[start] for line in lines if start in line and end in line]
        slow = [line[end] - line[start] for line in tail if start in line and end in line]
        segments[name] = {
            "p50_ms": percentile_ms(values, 50),
            "p99_ms": percentile_ms(values, 99),
            "max_ms": _ms(max(values, default=0.0)),
            "slowest_median_ms": _ms(statistics.median(slow)) if slow else None,
        }
    gc_hit = sum(
        1
        for line in tail
        if _overlaps(sender, line["sent"], line["shown"])
        or _overlaps(receiver, line["sent"], line["shown"])
    )
    longest = Counter(
        max(SEGMENTS, key=lambda segment: line[segment[2]] - line[segment[1]])[0] for line in tail
    )
    return {
        "messages": len(lines),
        "slowest": len(tail),
        "segments": segments,
        "slowest_longest_segment": dict(longest.most_common()),
        "slowest_in_an_fsync_stall": None
        if fsyncs is None
        else sum(1 for line in tail if _fsync_stalled(line, fsyncs)),
        "slowest_with_a_gc_pause": gc_hit,
        "same_node": sender is receiver,
        "gc_sender": sender.gc.summary(*window),
        "gc_receiver": receiver.gc.summary(*window),
    }


def summarize(attribution: dict[str, Any]) -> list[str]:
    lines = [
        f"    {'segment':<24} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'slowest ' + str(attribution['slowest']) + ' median':>18}"
    ]
    for name, figures in attribution["segments"].items():
        cells = [
            "-" if figures[key] is None else f"{figures[key]:.2f}"
            for key in ("p50_ms", "p99_ms", "max_ms", "slowest_median_ms")
        ]
        lines.append(f"    {name:<24} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} {cells[3]:>18}")
    lines.append(
        f"    the longest segment of each of the slowest: {attribution['slowest_longest_segment']}"
        f"; stored in an fsync stall (Redis's): {attribution['slowest_in_an_fsync_stall']}"
    )
    sender, receiver = attribution["gc_sender"], attribution["gc_receiver"]
    where = f"the node's {pauses_said(receiver)}"
    if not attribution["same_node"]:
        where = f"sender's node {pauses_said(sender)}, receivers' node {pauses_said(receiver)}"
    lines.append(
        f"    GC pauses: {where}; slowest messages with a pause on their path: "
        f"{attribution['slowest_with_a_gc_pause']}"
    )
    return lines


def pauses_said(summary: dict[str, Any]) -> str:
    if not summary["count"]:
        return "none"
    return (
        f"{summary['count']} ({summary['total_ms']} ms in all; the longest {summary['max_ms']} "
        f"ms, generation {summary['max_generation']}, {summary['max_cpu_ms']} ms of it on a core)"
    )
