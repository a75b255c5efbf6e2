"""One of ``scripts/`` run for real, as a test of it: the one JSON record it prints."""

import json
import subprocess
from typing import Any

from benchkit.processes import ROOT, script_args


def script_record(name: str, *options: str, timeout: float = 180.0) -> dict[str, Any]:
    """Run ``python -m scripts.NAME OPTIONS`` in the repository (failing on a non-zero exit);
    the single JSON line it printed."""
    done = subprocess.run(
        script_args(name, *options), cwd=ROOT, capture_output=True, timeout=timeout, check=True
    )
    (line,) = done.stdout.decode().splitlines()
    record: dict[str, Any] = json.loads(line)
    return record
