"""A server's own count of the frames it sent, read from its Prometheus ``/metrics``."""

from __future__ import annotations

import urllib.error
import urllib.request

FRAMES_DELIVERED = b"minidiscord_frames_delivered_total"


def parse_frames_delivered(text: bytes) -> int | None:
    """The ``minidiscord_frames_delivered_total`` sample of a Prometheus text page, if any."""
    for line in text.splitlines():
        name, _, value = line.partition(b" ")
        if name == FRAMES_DELIVERED:
            return int(float(value))
    return None


def frames_delivered(url: str, timeout: float = 5.0) -> int | None:
    """Frames the server at ``url`` has queued for its clients since it started (one per
    recipient of a broadcast); None where it has no such counter (another server)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as answer:
            return parse_frames_delivered(answer.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
