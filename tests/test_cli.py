"""The `minidiscord` command: settings from flags and environment, and a real start and stop."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx
import pytest
import trio

from benchkit.processes import ROOT, free_port, server_args
from minidiscord.cli import settings_from
from minidiscord.config import DEFAULT_CORS_ORIGINS, SettingsError
from tests.support.processes import cli_server


def test_defaults_are_the_original_servers() -> None:
    settings = settings_from([], {})
    assert (settings.host, settings.port) == ("127.0.0.1", 8181)
    assert settings.cors_origins == DEFAULT_CORS_ORIGINS


def test_environment_sets_host_port_and_origins() -> None:
    settings = settings_from(
        [],
        {
            "MINIDISCORD_HOST": "0.0.0.0",
            "MINIDISCORD_PORT": "9000",
            "MINIDISCORD_CORS_ORIGINS": "http://a.example, http://b.example",
        },
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.cors_origins == ("http://a.example", "http://b.example")


def test_flags_win_over_the_environment() -> None:
    settings = settings_from(
        ["--port", "9100", "--cors-origin", "http://c.example", "--cors-origin", "*"],
        {"MINIDISCORD_PORT": "9000", "MINIDISCORD_CORS_ORIGINS": "http://a.example"},
    )
    assert settings.port == 9100
    assert settings.cors_origins == ("http://c.example", "*")


@pytest.mark.parametrize("port", ["notaport", "70000", "-1"])
def test_bad_port_is_refused_naming_the_option(port: str) -> None:
    with pytest.raises(SettingsError, match="--port"):
        settings_from(["--port", port], {})
    with pytest.raises(SettingsError, match="MINIDISCORD_PORT"):
        settings_from([], {"MINIDISCORD_PORT": port})


def test_bad_value_exits_with_one_line_and_no_traceback() -> None:
    result = subprocess.run(
        server_args("notaport", unlimited=False),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "minidiscord: error: --port: 'notaport' is not a port number"
    ]


@pytest.mark.slow
async def test_python_dash_m_serves_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {
        "MINIDISCORD_PORT": str(port),
        "MINIDISCORD_LOG_LEVEL": "warning",
        "MINIDISCORD_STORE": "memory",
    }
    async with cli_server(port, unlimited=False, env=env) as server:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{server.url}/socket.io/?EIO=4&transport=polling")
        assert response.status_code == 200
        assert response.text.startswith('0{"sid":')
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            await server.process.wait()
        assert server.process.returncode == 0


def test_version_comes_from_the_package_metadata() -> None:
    result = subprocess.run(
        server_args(None, "--version", unlimited=False), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"minidiscord {metadata.version('minidiscord')}\n"


def _unprivileged(command: list[str]) -> list[str]:
    """``command`` as a user without privileges: as is when the tests run as one, through
    ``setpriv`` as nobody when they run as root (the CI machine)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (util-linux) is not there to drop it")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]


def _privileged_port() -> int:
    # Linux lets anyone bind from net.ipv4.ip_unprivileged_port_start (1024 by default) up.
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    first = int(start.read_text()) if start.exists() else 1024
    if first <= 80:
        pytest.skip(f"this machine lets anyone listen on ports from {first} up")
    return 80


@contextmanager
def _taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


STARTUP_FAILURES = [
    "port in use",
    "host not resolvable",
    "host not local",
    "privileged port",
    "database folder missing",
    "redis unreachable",
]


@pytest.mark.parametrize("case", STARTUP_FAILURES)
def test_a_server_that_cannot_start_says_why_in_one_line(case: str, tmp_path: Path) -> None:
    # The front end is the suite's (MINIDISCORD_FRONTEND, inherited): the suite runs on both.
    options = ["--store", "memory"]
    with contextlib.ExitStack() as stack:
        if case == "port in use":
            port = stack.enter_context(_taken_port())
            expected = f"cannot listen on 127.0.0.1:{port}: the port is already in use"
        elif case == "host not resolvable":
            port = free_port()
            options += ["--host", "no-such-host.invalid"]
            expected = f"cannot listen on no-such-host.invalid:{port}: 'no-such-host.invalid' is "
        elif case == "host not local":
            port = free_port()
            options += ["--host", "192.0.2.1"]  # TEST-NET-1: never this machine's
            expected = f"cannot listen on 192.0.2.1:{port}: that address is not one of this "
        elif case == "privileged port":
            port = _privileged_port()
            expected = "cannot listen on 127.0.0.1:80: permission denied (ports below 1024 "
        elif case == "redis unreachable":
            port = free_port()
            nothing = free_port()  # nobody listens there
            options += ["--redis-url", f"redis://:secret@127.0.0.1:{nothing}/0"]
            expected = f"cannot reach redis at redis://127.0.0.1:{nothing}/0: redis is unreachable"
        else:
            port = free_port()
            database = tmp_path / "missing" / "chat.db"
            options = ["--db", str(database)]
            expected = f"cannot create the database {database}: directory {database.parent} "
        command = server_args(port, *options, unlimited=False)
        if case == "privileged port":
            command = _unprivileged(command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    # One line, no traceback, and nothing said to be listening before it.
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"minidiscord: error: {expected}"), lines[0]
    assert "secret" not in result.stderr
    assert result.stdout == ""
