"""The `minidiscord` command: settings from flags and environment, and a real start and stop."""

import signal
import subprocess

import httpx
import pytest
import trio

from benchkit.processes import free_port, server_args
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
