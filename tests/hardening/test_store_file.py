"""The database file deleted or replaced under a running server: writes are refused (never
acknowledged into a file nobody can open again), /healthz says why, reads go on."""

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio

from minidiscord.app import ChatApp
from tests.support.chatclient import ChatClient, joined
from tests.support.servers import ServerFactory


def delete(db: Path) -> None:
    db.unlink()


def replace(db: Path) -> None:
    other = db.with_name("other.db")
    sqlite3.connect(other).close()
    os.replace(other, db)  # what `mv other.db chat.db` does


@pytest.mark.parametrize(
    ("change", "reason"), [(delete, "was deleted"), (replace, "was replaced by another file")]
)
async def test_writes_are_refused_once_the_database_file_is_gone(
    start_server: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[Path], None],
    reason: str,
) -> None:
    db = tmp_path / "chat.db"
    server = await start_server(store="sqlite", db_path=str(db))
    assert isinstance(server.app, ChatApp)
    async with (
        joined(server.url, {"username": "writer"}) as client,
        httpx.AsyncClient() as http,
    ):
        session = client.session
        assert (await client.send("general", "kept"))["ok"]

        change(db)
        for _ in range(2):
            ack = await client.send("general", "lost")
            assert ack == {"ok": False, "error": "the server could not store the message"}
        health = await http.get(server.url + "/healthz")
        assert health.status_code == 503
        # The reason, but not where the file lives: anyone may ask /healthz.
        assert health.text == f"unavailable: the store refuses writes: the database file {reason}\n"

        # Reads go on, from the file still open; what needs a write is refused politely.
        ack = await client.call("channel:history", "general")
        assert [m["message"] for m in ack["messages"]] == ["kept"]
        async with trio.open_nursery() as nursery:
            newcomer = ChatClient(server.url, "newcomer", nursery=nursery)
            refusal = await newcomer.connect_refused({"username": "newcomer"})
            assert refusal == {"message": "the server cannot store new users now; try again later"}
        async with joined(server.url, {"sessionId": session["sessionId"]}, "tab") as tab:
            assert tab.session["userId"] == session["userId"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"the database file {reason} ({db})" in errors[0].getMessage()


async def test_the_health_check_finds_the_file_gone_before_any_write(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    server = await start_server(store="sqlite", db_path=str(db))
    async with (
        joined(server.url, {"username": "writer"}) as client,
        httpx.AsyncClient() as http,
    ):
        assert (await http.get(server.url + "/healthz")).status_code == 200
        db.unlink()
        health = await http.get(server.url + "/healthz")
        assert health.status_code == 503
        assert "was deleted" in health.text
        ack = await client.send("general", "lost")
        assert ack["ok"] is False
