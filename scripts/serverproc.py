"""Our server as a subprocess for the load, benchmark and soak scripts: its command, a port,
and waiting until it serves.

Load generators connect from one address and send far faster than people, so the command
turns the per-user and per-address limits off; each script adds its store and logging.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

UNLIMITED = (
    "--rate-limit",
    "off",
    "--ip-connect-rate",
    "off",
    "--ip-max-sessions",
    "off",
    "--history-rate",
    "off",
    "--ip-new-user-rate",
    "off",
    "--ip-message-rate",
    "off",
    "--ip-max-connections",
    "off",
    "--client-packet-rate",
    "off",
    "--max-connections",
    "100000",
)


def server_args(port: int | str, *options: str) -> list[str]:
    """``python -m minidiscord`` on ``port`` (an int, or a ``{port}`` template) with the
    limits off, then ``options``."""
    return [sys.executable, "-m", "minidiscord", "--port", str(port), *UNLIMITED, *options]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until ``/healthz`` answers 200; raises if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not become healthy on port {port} in {timeout} s")
        time.sleep(0.05)
