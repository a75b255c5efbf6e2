"""What moderation keeps beyond one server's memory: a timeout outlives a restart, an
offline user's new role is in the users list, the audit log is pruned to its retention
(by the server and by `minidiscord admin audit --prune`), and the SQLite outbox survives
a row it cannot apply."""

import sqlite3
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import trio

from benchkit.processes import free_port
from minidiscord.app import create_app
from minidiscord.chat.models import Role
from minidiscord.chat.store.sqlite import SqliteStore
from tests.support.accounts import account_with_role, login, register
from tests.support.admincli import cli
from tests.support.chatclient import ChatClient
from tests.support.processes import cli_server
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory, serve_app


async def on_file(nursery: trio.Nursery, db: Path) -> tuple[RunningServer, SqliteStore]:
    store = SqliteStore.open(str(db))
    settings = replace(TEST_SETTINGS, store="sqlite", db_path=str(db))
    return await serve_app(nursery, create_app(settings, store)), store


async def test_a_timeout_outlives_a_restart(nursery: trio.Nursery, tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    server, store = await on_file(nursery, db)
    token = await account_with_role(server.app, server.url, "mod", Role.MODERATOR)
    moderator = ChatClient(server.url, "mod", nursery=nursery)
    tom = ChatClient(server.url, "tom", nursery=nursery)
    await moderator.connect({"token": token})
    await tom.connect({"username": "tom"})
    ack = await moderator.call("user:timeout", {"userId": tom.session["userId"], "seconds": 600})
    assert ack["ok"] is True
    session = tom.session
    await moderator.close()
    await tom.close()
    server.shutdown.set()
    await store.close()

    server, store = await on_file(nursery, db)
    tom = ChatClient(server.url, "tom again", nursery=nursery)
    await tom.connect({"sessionId": session["sessionId"]})
    refused = await tom.send("general", "am I free?")
    assert (refused["ok"], refused["until"]) == (False, ack["until"])
    await tom.close()
    server.shutdown.set()
    await store.close()


async def test_an_offline_users_new_role_is_in_the_users_list(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    server = await start_server()  # the memory store
    token = await account_with_role(server.app, server.url, "root", Role.ADMIN)
    admin = ChatClient(server.url, "root", nursery=nursery)
    await admin.connect({"token": token})
    mia = ChatClient(server.url, "mia", nursery=nursery)
    await mia.connect({"token": await register(server.url, "mia")})
    mia_id = mia.session["userId"]
    await mia.disconnect()
    ack = await admin.call("user:role", {"userId": mia_id, "role": "moderator"})
    assert ack == {"ok": True, "role": "moderator"}
    newcomer = ChatClient(server.url, "newcomer", nursery=nursery)
    await newcomer.connect({"username": "newcomer"})
    listed = {u["userId"]: u for u in newcomer.received("users")[0][0]}
    assert (listed[mia_id]["role"], listed[mia_id]["connected"]) == ("moderator", False)
    # Online again, she is listed with it too (the users payload's cache must not hold her
    # old entry).
    again = ChatClient(server.url, "mia again", nursery=nursery)
    await again.connect({"token": await login(server.url, "mia")})
    late = ChatClient(server.url, "late", nursery=nursery)
    await late.connect({"username": "late"})
    listed = {u["userId"]: u for u in late.received("users")[0][0]}
    assert (listed[mia_id]["role"], listed[mia_id]["connected"]) == ("moderator", True)
    for client in (admin, newcomer, again, late):
        await client.close()


async def test_the_audit_log_is_pruned_by_the_server_and_the_command(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    db = str(tmp_path / "chat.db")
    await cli("--db", db, "create-admin", "root")
    for name in ("ann", "bob", "cat"):
        await cli("--db", db, "ban", "--user-id", name, "--reason", f"no {name}")
    assert len((await cli("--db", db, "audit")).splitlines()) == 3
    # The command prunes to the retention it is given (flags or environment, as the server).
    pruned = await cli("--db", db, "--audit-entries", "2", "audit", "--prune")
    assert pruned.splitlines()[0] == "pruned 1 entries (kept 365 days, at most 2 entries)"
    assert [line.split("  ")[-1] for line in pruned.splitlines()[1:]] == [
        "why: no cat",
        "why: no bob",
    ]
    # A server started with a smaller retention prunes at once.
    options = ("--store", "sqlite", "--db", db, "--audit-entries", "1")
    async with cli_server(free_port(), *options):
        # Pruned in the background from its start: no event says when (polled, bounded).
        with trio.fail_after(10):
            while len((await cli("--db", db, "audit")).splitlines()) != 1:  # noqa: ASYNC110
                await trio.sleep(0.1)
    assert (await cli("--db", db, "audit")).endswith("why: no cat\n")


async def test_an_outbox_row_the_server_cannot_apply_costs_nothing_else(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    db = str(tmp_path / "chat.db")
    async with cli_server(free_port(), "--store", "sqlite", "--db", db) as server:
        tom = ChatClient(server.url, "tom", nursery=nursery)
        await tom.connect({"username": "tom"})
        with closing(sqlite3.connect(db)) as conn, conn:
            for junk in (
                '{"do": "kick"}',
                '{"do": "nothing"}',
                '{"do": "forget", "users": [1]}',
                "[1, 2]",
                "not json",
            ):
                row = (int(time.time() * 1000), junk)
                conn.execute("INSERT INTO moderation_events (at, effect) VALUES (?, ?)", row)
        await cli("--db", db, "ban", "--user-id", tom.session["userId"], "--reason", "spam")
        (reason,) = await tom.wait_for("disconnect")
        assert reason == "io server disconnect"
        # The server still serves.
        ann = ChatClient(server.url, "ann", nursery=nursery)
        await ann.connect({"username": "ann"})
        assert (await ann.send("general", "hello"))["ok"] is True
        await ann.close()
