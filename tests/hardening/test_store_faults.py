"""A store that cannot write (a full disk) fails sends with an ack error and /healthz 503,
keeps what was acknowledged, and recovers when the fault goes away."""

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import trio

from minidiscord.app import ChatApp
from minidiscord.chat.store.sqlite import SqliteStore
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import ServerFactory


async def _send(client: RawWebSocket, ack_id: int, text: str) -> dict[str, Any]:
    await client.send(f'42{ack_id}["message:channel:send","general",{json.dumps(text)}]')
    while True:
        frame = await client.text()
        if frame.startswith(f"43{ack_id}["):
            ack: dict[str, Any] = json.loads(frame[2 + len(str(ack_id)) :])[0]
            return ack


async def _set_max_pages(store: SqliteStore, pages: int | None) -> None:
    # Test-only access to the writer connection: SQLite's page cap makes every write that
    # needs a new page fail with SQLITE_FULL, exactly as a full disk does.
    writer: sqlite3.Connection = store._writer

    def apply() -> None:
        current = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {current if pages is None else pages}")

    await trio.to_thread.run_sync(apply)


async def test_full_disk_fails_sends_then_recovers(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(store="sqlite", db_path=str(tmp_path / "chat.db"))
    app = server.app
    assert isinstance(app, ChatApp)
    assert isinstance(app.store, SqliteStore)
    async with raw_websocket(server.ws_url) as client, httpx.AsyncClient() as http:
        await client.send('40{"username":"writer"}')
        while not (await client.text()).startswith('42["users"'):
            pass
        assert (await _send(client, 1, "before the fault"))["ok"] is True
        assert (await http.get(server.url + "/healthz")).status_code == 200

        await _set_max_pages(app.store, None)
        acked = ["before the fault"]
        failed = None
        for number in range(2, 60):
            ack = await _send(client, number, f"filler {number} " + "x" * 1900)
            if not ack["ok"]:
                failed = ack
                break
            acked.append(f"filler {number} " + "x" * 1900)
        assert failed == {"ok": False, "error": "the server could not store the message"}
        health = await http.get(server.url + "/healthz")
        assert health.status_code == 503

        await _set_max_pages(app.store, 1_000_000)
        assert (await _send(client, 100, "after the fault"))["ok"] is True
        acked.append("after the fault")
        assert (await http.get(server.url + "/healthz")).status_code == 200

    stored = [m.message for m in await app.store.recent_messages("general", 100)]
    assert stored == acked
