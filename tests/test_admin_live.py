"""What `minidiscord admin` does reaches a RUNNING server's sockets (the real command, a
subprocess, beside a running server with connected clients): a ban lets the user's tabs
go, a revocation ends its sessions' tabs, a role change is told to everyone, pruned guests
leave the users list. On SQLite through the outbox the server reads every second, on
Redis through the cluster log every node reads."""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import trio

from benchkit.processes import free_port
from tests.support.accounts import PASSWORD, api, login, register
from tests.support.admincli import cli
from tests.support.chatclient import ChatClient, Clients, let_go
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes

TEN_DAYS_MS = 10 * 24 * 3600 * 1000


async def test_cli_actions_reach_a_running_sqlite_server(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    db = str(tmp_path / "chat.db")
    clients = Clients(nursery)
    options = ("--store", "sqlite", "--db", db)
    async with cli_server(free_port(), *options) as server:
        old = await clients.join(server.url, {"username": "old"}, "old")
        old_id = old.session["userId"]
        await old.disconnect()
    # As if "old" had last come ten days ago (with the server stopped: its own note of
    # when "old" was seen is written by then).
    with closing(sqlite3.connect(db)) as conn, conn:
        long_ago = int(time.time() * 1000) - TEN_DAYS_MS
        conn.execute("UPDATE users SET last_seen = ? WHERE user_id = ?", (long_ago, old_id))
    async with cli_server(free_port(), *options) as server:
        url = server.url
        ada = await register(url, "ada")
        ada_phone = await login(url, "ada")
        mia = await register(url, "mia")
        eve = await register(url, "eve")
        watcher = await clients.join(url, {"username": "watcher"}, "watcher")
        ada_tabs = [
            await clients.join(url, {"token": ada}, "ada laptop"),
            await clients.join(url, {"token": ada_phone}, "ada phone"),
        ]
        mia_tab = await clients.join(url, {"token": mia}, "mia")
        eve_tabs = [await clients.join(url, {"token": eve}, f"eve {n}") for n in range(2)]
        tom_tabs = [await clients.join(url, {"username": "tom"}, "tom")]
        tom = tom_tabs[0].session
        tom_tabs.append(await clients.join(url, {"sessionId": tom["sessionId"]}, "tom 2"))

        # A role change: everyone is told, and the user's tab speaks with it at once.
        assert await cli("--db", db, "set-role", "mia", "moderator") == "'mia' is now moderator\n"
        # (The subprocess server has recovery on: an offset may follow each event.)
        changed = (await watcher.wait_for("user:role"))[0]
        assert changed == {"userId": mia_tab.session["userId"], "role": "moderator"}
        ack = await mia_tab.call("message:delete", {"channel": "general", "id": 10**9})
        assert ack == {"ok": False, "error": f"there is no message {10**9} in general"}

        # A revocation ends every tab of the account's sessions.
        assert (await cli("--db", db, "revoke-sessions", "ada")).startswith("ended 2 sessions")
        await let_go(*ada_tabs)

        # A ban: an account's tabs and a guest's tabs go.
        await cli("--db", db, "ban", "eve", "--reason", "spam")
        await let_go(*eve_tabs)
        await cli("--db", db, "ban", "--user-id", tom["userId"], "--reason", "trolling")
        await let_go(*tom_tabs)
        refusal = await ChatClient(url, "tom again", nursery=nursery).connect_refused(
            {"sessionId": tom["sessionId"]}
        )
        assert refusal["message"] == "you are banned: trolling"

        # An unban needs nothing live: the next connect reads the store.
        await cli("--db", db, "unban", "eve")
        answer = await api(url, "login", {"username": "eve", "password": PASSWORD})
        assert answer.status_code == 200, answer.text

        # Pruned guests leave the running server's users list, and everyone is told.
        assert await cli("--db", db, "prune-guests", "--days", "5") == (
            "removed 1 guests not seen for 5 days\n"
        )
        gone = (await watcher.wait_for("user:leave"))[0]
        assert gone["userId"] == old_id
        newcomer = await clients.join(url, {"username": "newcomer"}, "newcomer")
        listed = {u["userId"]: u for u in newcomer.received("users")[0][0]}
        assert old_id not in listed
        # Mia is listed as the moderator she now is.
        assert listed[mia_tab.session["userId"]]["role"] == "moderator"
        # The watcher and the newcomer were never touched.
        assert (await watcher.send("general", "still here"))["ok"] is True
        await clients.close()


async def test_cli_actions_reach_every_running_redis_node(
    redis: RedisServer, start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    options = ("--redis-url", redis.url, "--redis-prefix", "minidiscord")
    clients = Clients(nursery)
    ada = await register(one.url, "ada")
    mia = await register(one.url, "mia")
    eve = await register(one.url, "eve")
    watchers = [
        await clients.join(node.url, {"username": f"watcher {n}"}, f"watcher {n}")
        for n, node in enumerate((one, two))
    ]
    ada_tabs = [await clients.join(node.url, {"token": ada}, "ada") for node in (one, two)]
    mia_tab = await clients.join(two.url, {"token": mia}, "mia")
    eve_tabs = [await clients.join(node.url, {"token": eve}, "eve") for node in (one, two)]
    tom = await clients.join(one.url, {"username": "tom"}, "tom")
    tom_tabs = [tom, await clients.join(two.url, {"sessionId": tom.session["sessionId"]}, "t2")]

    assert await cli(*options, "set-role", "mia", "moderator") == "'mia' is now moderator\n"
    for watcher in watchers:
        # (The subprocess server has recovery on: an offset may follow each event.)
        changed = (await watcher.wait_for("user:role"))[0]
        assert changed == {"userId": mia_tab.session["userId"], "role": "moderator"}
    assert (await cli(*options, "revoke-sessions", "ada")).startswith("ended 1 sessions")
    await let_go(*ada_tabs)
    await cli(*options, "ban", "eve", "--reason", "spam")
    await let_go(*eve_tabs)
    await cli(*options, "ban", "--user-id", tom.session["userId"], "--reason", "trolling")
    await let_go(*tom_tabs)
    for watcher in watchers:
        assert (await watcher.send("general", "still here"))["ok"] is True
    await clients.close()
