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
from typing import Any, NamedTuple

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def tune_garbage_collector() -> None:
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    # What exists at startup (modules, the app) lives for ever: keep it out of every walk.
    gc.freeze()


class Pause(NamedTuple):
    """One collection: when it began (wall clock), how long it took, the generation, and
    the CPU this process spent in it (less than ``seconds`` when the process was made to
    wait for a core meanwhile)."""

    start: float
    seconds: float
    generation: int
    cpu_seconds: float


class GcPauses:
    """The collector's pauses in this process while installed (a ``gc.callbacks`` entry).
    For measurement runs, which want to tell the collector's stalls from others."""

    def __init__(self) -> None:
        self.pauses: list[Pause] = []
        self._started = (0.0, 0.0)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.time(), time.process_time())
        else:
            wall, cpu = self._started
            self.pauses.append(
                Pause(wall, time.time() - wall, info["generation"], time.process_time() - cpu)
            )

    def install(self) -> "GcPauses":
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)

    def summary(self, since: float = 0.0, until: float = math.inf) -> dict[str, float | int]:
        """Count and total (ms) of the pauses that began between the two times, and the
        longest: its length, generation and CPU (ms)."""
        inside = [pause for pause in self.pauses if since <= pause.start <= until]
        longest = max(inside, key=lambda pause: pause.seconds, default=Pause(0.0, 0.0, -1, 0.0))
        return {
            "count": len(inside),
            "max_ms": round(longest.seconds * 1000, 3),
            "max_generation": longest.generation,
            "max_cpu_ms": round(longest.cpu_seconds * 1000, 3),
            "total_ms": round(sum(pause.seconds for pause in inside) * 1000, 3),
        }
