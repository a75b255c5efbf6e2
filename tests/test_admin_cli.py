"""`minidiscord admin` through the real entry point (a subprocess): on a stopped server's
SQLite file, on a running server's, and on Redis."""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import trio

from benchkit.processes import free_port
from minidiscord.chat.accounts.records import digest
from minidiscord.chat.accounts.redis import RedisAccounts
from minidiscord.chat.models import Role
from minidiscord.chat.validation import name_key
from minidiscord.redis.connection import open_redis
from minidiscord.redis.target import parse_redis_url
from tests.support.accounts import PASSWORD, api, register
from tests.support.admincli import SECRET, admin, ok, refused
from tests.support.chatclient import ChatClient
from tests.support.processes import cli_server
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes


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
    # Audited as the other actions are, by the start of the code's digest, never the code.
    audited = ok("--db", db, "audit", "--limit", "1")
    assert "make invite" in audited
    assert "operator (command line)" in audited
    assert f"invite {digest(code.stdout.strip()).hex()[:12]}" in audited
    assert code.stdout.strip() not in audited


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
    unreachable = admin("--redis-url", f"redis://127.0.0.1:{free_port()}", "users")
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("minidiscord admin: error: cannot reach redis at ")
    assert len(unreachable.stderr.strip().splitlines()) == 1


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


async def test_moderation_subcommands_on_a_running_servers_database(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    db = str(tmp_path / "chat.db")
    port = free_port()
    options = ("--store", "sqlite", "--db", db)
    async with cli_server(port, *options, env={"MINIDISCORD_LOG_LEVEL": "warning"}) as server:

        async def cli(*args: str) -> str:
            return await trio.to_thread.run_sync(lambda: ok("--db", db, *args))

        await cli("create-admin", "root")
        mod_token = await register(server.url, "mod")
        ada_token = await register(server.url, "ada")
        guest = ChatClient(server.url, "guest", nursery=nursery)
        await guest.connect({"username": "tom"})
        ada = ChatClient(server.url, "ada", nursery=nursery)
        await ada.connect({"token": ada_token})
        listing = await cli("users")
        assert listing.splitlines()[0] == "2 users"
        assert f"{guest.session['userId']}  guest" in listing
        assert "member     " in listing
        assert (await cli("users", "TO")).splitlines()[0] == "1 users matching 'TO'"

        # A role set here counts at the server's next moderation request.
        assert await cli("set-role", "mod", "moderator") == "'mod' is now moderator\n"
        moderator = ChatClient(server.url, "mod", nursery=nursery)
        await moderator.connect({"token": mod_token})
        ack = await moderator.call("user:kick", {"userId": guest.session["userId"]})
        assert ack == {"ok": True}

        # A ban here: refused at the next login and connect.
        assert await cli("ban", "ada", "--reason", "spam") == "banned 'ada': spam\n"
        answer = await api(server.url, "login", {"username": "ada", "password": PASSWORD})
        assert answer.status_code == 403
        again = ChatClient(server.url, "ada again", nursery=nursery)
        refusal = await again.connect_refused({"token": ada_token})
        assert refusal["message"] == "this account is banned: spam"
        assert "banned: spam" in await cli("users", "ada")
        assert await cli("unban", "ada") == "unbanned 'ada'\n"
        await api(server.url, "login", {"username": "ada", "password": PASSWORD})

        # A guest is banned by its user id: its session cannot come back.
        session = guest.session
        await cli("ban", "--user-id", session["userId"], "--reason", "trolling")
        back = ChatClient(server.url, "back", nursery=nursery)
        refusal = await back.connect_refused({"sessionId": session["sessionId"]})
        assert refusal["message"] == "you are banned: trolling"

        revoked = await cli("revoke-sessions", "ada")
        assert revoked.startswith("ended ")
        assert revoked.endswith(" sessions of 'ada'\n")
        late = ChatClient(server.url, "late", nursery=nursery)
        refusal = await late.connect_refused({"token": ada_token})
        assert "revoked by an administrator" in refusal["message"]

        log = (await cli("audit")).splitlines()
        assert [line.split("  ")[3] for line in log] == [
            "revoke sessions",
            "ban",
            "unban",
            "ban",
            "kick",
            "set role",
        ]
        assert "operator (command line)" in log[1]
        assert "why: trolling" in log[1]
        assert log[-1].endswith("(member -> moderator)")
        older = (await cli("audit", "--limit", "2", "--before", log[1].split()[0][1:])).splitlines()
        assert [line.split("  ")[3] for line in older] == ["unban", "ban"]
        for client in (guest, ada, moderator):
            await client.close()


async def test_prune_guests_removes_only_guests_not_seen_for_n_days(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    db = str(tmp_path / "chat.db")
    options = ("--store", "sqlite", "--db", db)
    async with cli_server(free_port(), *options) as server:
        token = await register(server.url, "ada")
        for auth, name in (({"username": "old"}, "old"), ({"username": "new"}, "new")):
            client = ChatClient(server.url, name, nursery=nursery)
            await client.connect(auth)
            await client.disconnect()
        member = ChatClient(server.url, "ada", nursery=nursery)
        await member.connect({"token": token})
        await member.disconnect()
    # As if "old" and ada had last come ten days ago.
    with closing(sqlite3.connect(db)) as conn, conn:
        long_ago = int(time.time() * 1000) - 10 * 24 * 3600 * 1000
        conn.execute("UPDATE users SET last_seen = ? WHERE username IN ('old', 'ada')", (long_ago,))
    assert ok("--db", db, "prune-guests", "--days", "5") == "removed 1 guests not seen for 5 days\n"
    listing = ok("--db", db, "users")
    assert listing.splitlines()[0] == "2 users"
    assert " old" not in listing
    assert ok("--db", db, "prune-guests", "--days", "5") == "removed 0 guests not seen for 5 days\n"
    # A server started on it: the pruned guest is not in a newcomer's users list.
    async with cli_server(free_port(), *options) as server:
        newcomer = ChatClient(server.url, "newcomer", nursery=nursery)
        await newcomer.connect({"username": "newcomer"})
        users = newcomer.received("users")[0][0]  # (a recovery offset may follow)
        assert sorted(u["username"] for u in users) == ["ada", "new", "newcomer"]
        await newcomer.close()
    assert "prune guests" in ok("--db", db, "audit", "--limit", "1")


def test_moderation_subcommands_refuse_clearly(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    ok("--db", db, "create-admin", "root")
    assert refused(1, "--db", db, "set-role", "nobody", "moderator") == (
        "minidiscord admin: error: no account is named 'nobody'"
    )
    assert (
        refused(1, "--db", db, "unban", "root") == "minidiscord admin: error: 'root' is not banned"
    )
    assert refused(1, "--db", db, "ban", "root", "--reason", "  ") == (
        "minidiscord admin: error: give a reason"
    )
    assert "invalid choice" in refused(2, "--db", db, "set-role", "root", "owner")
    assert "must be 1 or more" in refused(2, "--db", db, "prune-guests", "--days", "0")
    assert refused(1, "--db", db, "prune-guests", "--days", "3651") == (
        "minidiscord admin: error: days must be a whole number from 1 to 3650"
    )
    assert "required" in refused(2, "--db", db, "ban", "root")
    assert "not allowed with" in refused(
        2, "--db", db, "ban", "root", "--user-id", "x", "--reason", "r"
    )
    assert ok("--db", db, "audit") == "the audit log has no entries\n"


async def test_on_redis_users_bans_and_pruning_reach_the_running_nodes(
    redis: RedisServer, start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    (node,) = await start_nodes(start_server, redis.url, 1)
    options = ("--redis-url", redis.url, "--redis-prefix", "minidiscord")

    async def cli(*args: str) -> str:
        return await trio.to_thread.run_sync(lambda: ok(*options, *args))

    old = ChatClient(node.url, "old", nursery=nursery)
    await old.connect({"username": "old"})
    old_id = old.session["userId"]
    await old.disconnect()
    watcher = ChatClient(node.url, "watcher", nursery=nursery)
    await watcher.connect({"username": "watcher"})
    listing = await cli("users")
    assert listing.splitlines()[0] == "2 users"
    assert f"{old_id}  guest" in listing
    await cli("ban", "--user-id", old_id, "--reason", "spam")
    assert "banned: spam" in await cli("users", "old")
    # As if "old" had last come ten days ago.
    async with open_redis(parse_redis_url(redis.url)) as client:
        long_ago = int(time.time() * 1000) - 10 * 24 * 3600 * 1000
        await client.zadd("minidiscord:seen", {old_id: long_ago})
    assert await cli("prune-guests", "--days", "5") == "removed 1 guests not seen for 5 days\n"
    # Through the log: the running node tells its clients at once.
    (gone,) = await watcher.wait_for("user:leave")
    assert gone["userId"] == old_id
    assert (await cli("users")).splitlines()[0] == "1 users"
    await watcher.close()
