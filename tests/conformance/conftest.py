"""Fixtures: the conformance server (scripts/conformance_server.py) as a subprocess, one per mode.

The server runs on the suite's front end (``MINIDISCORD_FRONTEND``). Set
CONFORMANCE_SOCKETIO_URL or CONFORMANCE_ENGINEIO_URL (e.g. "http://127.0.0.1:3000") to run
the suite against a server that is already running instead, such as another implementation
used to check the tests themselves.
"""

import os
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from benchkit.processes import ROOT, script_args
from tests.support.servers import TEST_SETTINGS

from .wire import Target


def _serve(mode: str) -> Iterator[str]:
    override = os.environ.get(f"CONFORMANCE_{mode.upper()}_URL")
    if override:
        yield override.rstrip("/")
        return
    process = subprocess.Popen(
        # On the front end the suite runs on (the Makefile runs it on both).
        script_args(
            "conformance_server", mode, "--port", "0", "--frontend", TEST_SETTINGS.frontend
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            pytest.fail(f"conformance server ({mode}) did not start: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def socketio_url() -> Iterator[str]:
    yield from _serve("socketio")


@pytest.fixture(scope="session")
def engineio_url() -> Iterator[str]:
    yield from _serve("engineio")


@pytest.fixture(params=["engineio", "socketio"])
def target(request: pytest.FixtureRequest) -> Target:
    """Either server, for the Engine.IO behaviour both must share."""
    if request.param == "engineio":
        return Target(request.getfixturevalue("engineio_url"), "/engine.io/", echoes=True)
    return Target(request.getfixturevalue("socketio_url"), "/socket.io/", echoes=False)


@pytest.fixture
def engineio(engineio_url: str) -> Target:
    return Target(engineio_url, "/engine.io/", echoes=True)


@pytest.fixture
def socketio(socketio_url: str) -> Target:
    return Target(socketio_url, "/socket.io/", echoes=False)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
