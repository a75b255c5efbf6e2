"""The `minidiscord` command: settings from flags and environment, and a real start and stop."""

import os
import signal
import socket
import subprocess
import sys
from functools import partial

import httpx
import pytest
import trio

from minidiscord.cli import settings_from
from minidiscord.config import DEFAULT_CORS_ORIGINS, SettingsError


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_bad_value_exits_with_one_line_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "minidiscord", "--port", "notaport"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "minidiscord: error: --port: 'notaport' is not a port number"
    ]


async def test_python_dash_m_serves_and_stops_on_sigterm() -> None:
    port = _free_port()
    env = {
        **os.environ,
        "MINIDISCORD_PORT": str(port),
        "MINIDISCORD_LOG_LEVEL": "warning",
        "MINIDISCORD_STORE": "memory",
    }
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(trio.run_process, [sys.executable, "-m", "minidiscord"], env=env, check=False)
        )
        url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        async with httpx.AsyncClient() as http:
            with trio.fail_after(20):
                while True:
                    try:
                        response = await http.get(url)
                        break
                    except httpx.ConnectError:
                        await trio.sleep(0.1)
        assert response.status_code == 200
        assert response.text.startswith('0{"sid":')
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            await process.wait()
        assert process.returncode == 0
