"""`minidiscord admin` run as the real command (a subprocess), as an operator would."""

import os
import subprocess
import sys

import trio

from benchkit.processes import ROOT

SECRET = "an admin's long password"


def admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m minidiscord admin ARGS``, its password in the environment unless ``env``
    says otherwise."""
    return subprocess.run(
        [sys.executable, "-m", "minidiscord", "admin", *args],
        cwd=ROOT,
        env={**os.environ, "MINIDISCORD_ADMIN_PASSWORD": SECRET, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(*args: str) -> str:
    done = admin(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def refused(code: int, *args: str) -> str:
    """The command's one-line error (it must fail with ``code``)."""
    done = admin(*args)
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert len(lines) == 1 or code == 2, lines
    return lines[-1]


async def cli(*args: str) -> str:
    """``ok(*args)`` from a trio test, in a thread (the server may be in this process)."""
    return await trio.to_thread.run_sync(lambda: ok(*args))
