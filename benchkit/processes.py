"""Servers as subprocesses: the command, a free port, waiting until one serves, stopping it.

Load generators connect from one address and send far faster than people, so the default
command turns the per-user and per-address limits off; each caller adds its store and
logging.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

# The repository's root: where ``python -m minidiscord`` and ``python -m scripts.NAME`` run.
ROOT = Path(__file__).resolve().parent.parent

HEALTH = "/healthz"
# What every Engine.IO server answers, for servers other than ours (no /healthz).
HANDSHAKE = "/socket.io/?EIO=4&transport=polling"

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
    "--ip-connection-rate",
    "off",
    "--client-packet-rate",
    "off",
    "--max-connections",
    "100000",
)


def server_args(port: int | str | None, *options: str, unlimited: bool = True) -> list[str]:
    """``python -m minidiscord`` on ``port`` (an int, or a ``{port}`` template; None leaves
    it to the environment), with the limits off unless ``unlimited`` is false, then
    ``options``."""
    where = () if port is None else ("--port", str(port))
    limits = UNLIMITED if unlimited else ()
    return [sys.executable, "-m", "minidiscord", *where, *limits, *options]


def script_args(name: str, *options: str) -> list[str]:
    """One of ``scripts/`` as a command (``python -m scripts.NAME``); run it with
    ``cwd=ROOT``."""
    return [sys.executable, "-m", f"scripts.{name}", *options]


# Where free_port looks first: below the kernel's range for outgoing connections.
LISTENING_PORTS_FROM = 10_000
CLIENT_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A loopback port nothing is bound to now (the caller binds it soon after).

    Taken below the kernel's range for the local ports of outgoing connections where it can
    be: a port from ``bind(port 0)`` is in that range, so any client's connect meanwhile may
    take it, and the server that then binds it fails (seen in CI, with thousands of test
    connections a minute). Chosen at random, so that parallel test processes rarely try the
    same one."""
    try:
        first_client_port = int(CLIENT_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_client_port = LISTENING_PORTS_FROM
    candidates = range(LISTENING_PORTS_FROM, first_client_port)
    for port in random.SystemRandom().sample(candidates, min(len(candidates), 64)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Polled(Protocol):
    """A process that can say whether it has exited: ``subprocess.Popen`` or
    ``trio.Process``."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


def wait_ready(
    url: str,
    process: Polled | None,
    timeout: float,
    probe: str = HEALTH,
    context: ssl.SSLContext | None = None,
) -> None:
    """Until ``probe`` on the server at ``url`` answers 200; raises if the process exits or
    time runs out. ``context``: the TLS context to trust an https server with."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}{probe}", timeout=2, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} was not ready in {timeout} s")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (a graceful drain), then SIGKILL if it takes longer than ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(
    command: Sequence[str],
    port: int,
    *,
    timeout: float = 20.0,
    probe: str = HEALTH,
    **popen: Any,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` (serving on ``port``) started in ``ROOT``, ready; stopped when the block
    ends. ``popen`` goes to ``subprocess.Popen`` (stdout, stderr, env)."""
    process = subprocess.Popen(list(command), cwd=popen.pop("cwd", ROOT), **popen)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, timeout, probe)
        yield process
    finally:
        stop(process)


def pinning(nice: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Command prefixes for (server, load generator): each on its own core where taskset
    and two cores exist, so neither measures the other; ``nice`` goes in front of both."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return list(nice), list(nice)
    return [*nice, "taskset", "-c", "0"], [*nice, "taskset", "-c", "1"]
