"""benchkit and scripts/: importable without path edits, not in the wheel, and the process
helpers the scripts and tests share do what they say."""

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import setuptools  # type: ignore[import-untyped]  # no stubs in the test extra

from benchkit.processes import (
    CLIENT_PORTS,
    LISTENING_PORTS_FROM,
    ROOT,
    free_port,
    running,
    script_args,
    server_args,
    wait_ready,
)
from benchkit.redis import redis_executable, running_redis
from benchkit.stats import run_delay_s
from tests.support.requirements import unavailable

PATH_EDIT = re.compile(r"sys\.path\.(insert|append)\(")
SCRIPTS = sorted(
    path.stem for path in (ROOT / "scripts").glob("*.py") if path.name != "__init__.py"
)


def test_nothing_edits_the_import_path() -> None:
    edits = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("scripts", "benchkit", "tests")
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PATH_EDIT.search(line)
    ]
    assert edits == []


def test_every_script_imports_as_a_module_from_the_root() -> None:
    # A fresh interpreter in the root, as `python -m scripts.NAME` runs: nothing that
    # pytest put on the import path helps it.
    names = [f"scripts.{name}" for name in SCRIPTS]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
    done = subprocess.run(
        [sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_script_runs_as_a_command() -> None:
    done = subprocess.run(
        script_args("loadtest", "--help"), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_the_wheel_holds_the_server_only() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(
        str(ROOT), include=find.get("include", ["*"]), exclude=find.get("exclude", [])
    )
    assert "minidiscord" in packages
    assert not [p for p in packages if p.split(".")[0] in ("benchkit", "scripts", "tests")]


def test_a_free_port_is_one_no_outgoing_connection_can_take() -> None:
    first_client_port = int(CLIENT_PORTS.read_text().split()[0])
    ports = [free_port() for _ in range(20)]
    assert all(LISTENING_PORTS_FROM <= port < first_client_port for port in ports)
    # At random: two test processes asking at once rarely get the same one.
    assert len(set(ports)) > 1
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[0]))


def test_waiting_for_a_server_that_exits_says_so() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        wait_ready(f"http://127.0.0.1:{free_port()}", process, timeout=30)


def test_a_running_server_serves_and_is_stopped_after() -> None:
    port = free_port()
    command = server_args(port, "--store", "memory", "--log-level", "warning")
    with running(command, port, stdout=subprocess.DEVNULL) as process:
        assert process.poll() is None
    # SIGTERM: the graceful drain, which ends with status 0.
    assert process.returncode == 0


def test_a_private_redis_answers_keeps_its_aof_and_is_stopped_after(tmp_path: Path) -> None:
    if redis_executable() is None:
        unavailable("benchkit's redis-server", "redis-server is not installed")
    with running_redis(tmp_path / "redis") as (url, pid):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"CONFIG GET appendfsync\r\n")
            assert b"always" in conn.recv(256)
        assert os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(f"/proc/{pid}")


def test_the_wait_for_a_core_grows_with_a_process_that_runs_and_is_none_for_one_gone() -> None:
    if not Path(f"/proc/{os.getpid()}/schedstat").exists():
        unavailable("run_delay_s", "no /proc/PID/schedstat here")
    before = run_delay_s(os.getpid())
    assert before is not None
    assert before >= 0.0
    after = run_delay_s(os.getpid())
    assert after is not None
    assert after >= before
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert run_delay_s(gone.pid) is None
