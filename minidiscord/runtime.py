"""Process-wide tuning for a long-running server (the command and the ASGI entry call it).

CPython's cyclic garbage collector starts a young collection every 700 container
allocations and now and then a full one that walks every live object. A server holding
thousands of connections has hundreds of thousands of objects, and each full walk stalls
every client at once: with 1,000 clients it was most of the p99 latency (272 ms; 73 ms with
these thresholds, the same as with the collector off). Rarer collections keep the stalls
rare while cyclic garbage is still collected.
"""

import gc
import math
import time
from typing import Any

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def tune_garbage_collector() -> None:
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    # What exists at startup (modules, the app) lives for ever: keep it out of every walk.
    gc.freeze()


class GcPauses:
    """The collector's pauses in this process while installed (a ``gc.callbacks`` entry):
    each as (wall-clock start, seconds, generation). For measurement runs, which want to
    tell the collector's stalls from others."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.time()
        else:
            self.pauses.append((self._started, time.time() - self._started, info["generation"]))

    def install(self) -> "GcPauses":
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)

    def summary(self, since: float = 0.0, until: float = math.inf) -> dict[str, float | int]:
        """Count, longest (and its generation) and total (ms) of the pauses that began
        between the two times."""
        inside = [(seconds, gen) for start, seconds, gen in self.pauses if since <= start <= until]
        longest, generation = max(inside, default=(0.0, -1))
        return {
            "count": len(inside),
            "max_ms": round(longest * 1000, 3),
            "max_generation": generation,
            "total_ms": round(sum(seconds for seconds, _ in inside) * 1000, 3),
        }
