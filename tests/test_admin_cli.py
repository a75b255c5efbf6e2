"""`minidiscord admin` through the real entry point (a subprocess): on a stopped server's
SQLite file, on a running server's, and on Redis."""

import os
import subprocess
import sys
from pathlib import Path

import trio

from benchkit.processes import ROOT, free_port
from minidiscord.chat.accounts.redis import RedisAccounts
from minidiscord.chat.models import Role
from minidiscord.chat.validation import name_key
from minidiscord.redis.target import parse_redis_url
from tests.support.accounts import api, register
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer

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


def test_create_admin_and_invite_on_a_stopped_servers_file(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    made = admin("--db", db, "create-admin", "root")
    assert made.returncode == 0, made.stderr
    assert made.stdout == "created administrator 'root'\n"
    assert SECRET not in made.stdout + made.stderr
    # The same name, or one that looks like it, is taken.
    again = admin("--db", db, "create-admin", "R\u043e\u043et")  # Cyrillic o's
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "minidiscord admin: error: the name 'R\u043e\u043et' is taken (or one that looks like it)"
    ]
    password_file = tmp_path / "password"
    password_file.write_text("from a file, newline cut\n")
    second = admin("--db", db, "create-admin", "ops", "--password-file", str(password_file))
    assert second.returncode == 0, second.stderr
    code = admin("--db", db, "invite")
    assert code.returncode == 0, code.stderr
    assert len(code.stdout.strip()) >= 40  # 256 bits, URL-safe


def test_admin_refuses_clearly_in_one_line(tmp_path: Path) -> None:
    memory = admin("--store", "memory", "invite")
    assert memory.returncode == 2
    assert len(memory.stderr.strip().splitlines()) == 1
    assert "memory store lives inside the server process" in memory.stderr
    short = admin(
        "--db",
        str(tmp_path / "c.db"),
        "create-admin",
        "root",
        env={"MINIDISCORD_ADMIN_PASSWORD": "short"},
    )
    assert short.returncode == 1
    assert short.stderr.strip().splitlines() == [
        "minidiscord admin: error: a password has 8 to 1024 characters"
    ]
    missing = admin("--db", str(tmp_path / "c.db"), "create-admin", "x", "--password-file", "/no")
    assert missing.returncode == 2
    assert "cannot read the password file /no" in missing.stderr
    nowhere = admin("--db", "/no/such/dir/chat.db", "invite")
    assert nowhere.returncode == 2
    assert len(nowhere.stderr.strip().splitlines()) == 1


async def test_admin_works_on_a_running_servers_database(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    port = free_port()
    options = ("--store", "sqlite", "--db", db, "--registration", "invite")
    async with cli_server(port, *options, env={"MINIDISCORD_LOG_LEVEL": "warning"}) as server:
        made = await trio.to_thread.run_sync(lambda: admin("--db", db, "create-admin", "root"))
        assert made.returncode == 0, made.stderr
        login = await api(server.url, "login", {"username": "root", "password": SECRET})
        assert login.status_code == 200, login.text
        assert login.json()["role"] == "admin"

        code = await trio.to_thread.run_sync(lambda: admin("--db", db, "invite"))
        assert code.returncode == 0, code.stderr
        await register(server.url, "ada", invite=code.stdout.strip())
        reused = await api(
            server.url,
            "register",
            {"username": "bob", "password": SECRET, "invite": code.stdout.strip()},
        )
        assert reused.status_code == 403


async def test_admin_works_on_redis(redis: RedisServer) -> None:
    options = ("--redis-url", redis.url, "--redis-prefix", "chat")
    made = await trio.to_thread.run_sync(lambda: admin(*options, "create-admin", "root"))
    assert made.returncode == 0, made.stderr
    store = RedisAccounts(parse_redis_url(redis.url), "chat")
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        found = await store.account_named(name_key("ROOT"))
        await store.close()
    assert found is not None
    assert (found.username, found.role) == ("root", Role.ADMIN)
