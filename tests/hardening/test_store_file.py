"""The database file deleted or replaced under a running server: writes are refused (never
acknowledged into a file nobody can open again), /healthz says why, reads go on."""

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from minidiscord.app import ChatApp
from tests.chat.rawchat import call, join, join_refused
from tests.support.rawclient import raw_websocket
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
    async with raw_websocket(server.ws_url) as client, httpx.AsyncClient() as http:
        session = (await join(client, {"username": "writer"}))["session"][0]
        assert (await call(client, 1, "message:channel:send", "general", "kept"))[0]["ok"]

        change(db)
        for ack_id in (2, 3):
            ack, _ = await call(client, ack_id, "message:channel:send", "general", "lost")
            assert ack == {"ok": False, "error": "the server could not store the message"}
        health = await http.get(server.url + "/healthz")
        assert health.status_code == 503
        # The reason, but not where the file lives: anyone may ask /healthz.
        assert health.text == f"unavailable: the store refuses writes: the database file {reason}\n"

        # Reads go on, from the file still open; what needs a write is refused politely.
        ack, _ = await call(client, 4, "channel:history", "general")
        assert [m["message"] for m in ack["messages"]] == ["kept"]
        async with raw_websocket(server.ws_url) as newcomer:
            refusal = await join_refused(newcomer, {"username": "newcomer"})
            assert refusal == "the server cannot store new users now; try again later"
        async with raw_websocket(server.ws_url) as tab:
            await join(tab, {"sessionId": session["sessionId"]})
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"the database file {reason} ({db})" in errors[0].getMessage()


async def test_the_health_check_finds_the_file_gone_before_any_write(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    server = await start_server(store="sqlite", db_path=str(db))
    async with raw_websocket(server.ws_url) as client, httpx.AsyncClient() as http:
        await join(client, {"username": "writer"})
        assert (await http.get(server.url + "/healthz")).status_code == 200
        db.unlink()
        health = await http.get(server.url + "/healthz")
        assert health.status_code == 503
        assert "was deleted" in health.text
        ack, _ = await call(client, 1, "message:channel:send", "general", "lost")
        assert ack["ok"] is False
