"""Node's socket.io-client, driven by the scripts in tests/node: each prints one JSON line
per step it reports and exits 0 when its scenario held."""

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio

from tests.support.requirements import unavailable

NODE_DIR = Path(__file__).parent.parent / "node"


def require_node() -> None:
    """Skip (locally) or fail (under CI=true) unless node and socket.io-client are here."""
    if shutil.which("node") is None:
        unavailable("node socket.io-client tests", "node is not installed")
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        unavailable("node socket.io-client tests", "run `npm ci` in tests/node")


async def run_node(
    script: str, *args: str, timeout: float = 30, env: Mapping[str, str] | None = None
) -> list[Any]:
    """Run ``tests/node/SCRIPT ARGS`` (with ``env`` added to ours); the JSON lines it
    printed, once it exited 0."""
    require_node()
    with trio.fail_after(timeout):
        done = await trio.run_process(
            ["node", str(NODE_DIR / script), *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, **(env or {})},
        )
    lines = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    assert done.returncode == 0, (lines, done.stderr.decode()[-2000:])
    return lines


def by_step(lines: list[Any]) -> dict[str, Any]:
    """The lines keyed by their ``step``."""
    return {line["step"]: line for line in lines}
