"""Where a message's time goes, for a measurement run: the wall-clock time of each stage of
every message's life in this process, and the garbage collector's pauses.

Off (``trace`` is None, one test per stage) unless ``MINIDISCORD_STAGE_TRACE`` names a
directory when the server starts (``scripts/cluster_bench.py --stages`` sets it): then the
process keeps every message's stage times in memory and writes them at exit, as
``stages-PID.json`` in that directory. Wall clock (``time.time``), so that the processes
of one host and the load generator's send stamps (in its texts) compare. Not for
production: it keeps everything until exit.

The stages, in order (a node sees the first four only for the messages it took):

- ``received``: the sender's node starts storing the message (its handler runs);
- ``issued``: the store's writer sent the batch holding it to Redis;
- ``acked``: Redis's reply to that batch was read (after its AOF fsync);
- ``ack``: the sender's node showed it and acknowledges it to its sender;
- ``read``: this node's log reader got it from ``XREAD``;
- ``shown``: this node emitted it to its sockets (queued on each, not yet written).
"""

import atexit
import os
from pathlib import Path

import orjson

from ..runtime import GcPauses

ENV = "MINIDISCORD_STAGE_TRACE"
STAGES = ("received", "issued", "acked", "ack", "read", "shown")


class StageTrace:
    """Stage times by message id, the texts of the messages taken here, and GC pauses."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages: dict[int, dict[str, float]] = {}
        self.texts: dict[int, str] = {}
        self.gc = GcPauses()

    def mark(self, message_id: int, stage: str, at: float) -> None:
        self.stages.setdefault(message_id, {})[stage] = at

    def text(self, message_id: int, text: str) -> None:
        self.texts[message_id] = text

    def write(self) -> None:
        report = {
            "pid": os.getpid(),
            "stages": {str(key): value for key, value in self.stages.items()},
            "texts": {str(key): value for key, value in self.texts.items()},
            "gc_pauses": [list(pause) for pause in self.gc.pauses],
        }
        self.path.write_bytes(orjson.dumps(report))


trace: StageTrace | None = None


def start_from_env() -> None:
    """Start tracing this process when ``MINIDISCORD_STAGE_TRACE`` names a directory."""
    global trace
    directory = os.environ.get(ENV)
    if not directory or trace is not None:
        return
    trace = StageTrace(Path(directory) / f"stages-{os.getpid()}.json")
    trace.gc.install()
    atexit.register(trace.write)
