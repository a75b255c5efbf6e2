"""One address cannot step around the per-user limits by becoming new users: new users and
messages are bounded per address too, while restored sessions and other addresses are not
affected."""

import json

import trio
import trio.testing

from minidiscord.app import ChatApp
from minidiscord.chat.server import TURNED_AWAY_SECONDS
from minidiscord.limits import Rate
from tests.chat.rawchat import call, event_of, join, join_refused, turned_away, websocket_from
from tests.support.servers import ServerFactory

OFFICE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"
# Limits under test only: heartbeats would otherwise fire as the mock clock jumps.
QUIET = {"ping_interval": 1000.0, "ping_timeout": 1000.0, "connect_timeout": 1000.0}


async def test_new_users_per_address_are_limited_but_sessions_restore(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ip_new_user_rate=Rate(burst=3, per_second=0.1), **QUIET)
    sessions = []
    for n in range(3):
        async with websocket_from(server.ws_url, OFFICE) as client:
            sessions.append((await join(client, {"username": f"u{n}"}))["session"][0])
    async with websocket_from(server.ws_url, OFFICE) as client:
        refusal = await join_refused(client, {"username": "one too many"})
        assert refusal == "too many new users from your address; try again in 10 s"
        # An unknown session is a new user too.
        refusal = await join_refused(client, {"sessionId": "forgotten", "username": "again"})
        assert refusal.startswith("too many new users")
        # A restored session is the same user: not refused, not counted.
        restored = await join(client, {"sessionId": sessions[0]["sessionId"]})
        assert restored["session"][0]["userId"] == sessions[0]["userId"]
    async with websocket_from(server.ws_url, ELSEWHERE) as client:
        await join(client, {"username": "elsewhere"})
    await trio.sleep(10.0)
    async with websocket_from(server.ws_url, OFFICE) as client:
        await join(client, {"username": "later"})
    assert isinstance(server.app, ChatApp)
    names = [user.username for user in await server.app.store.list_users()]
    assert names == ["u0", "u1", "u2", "elsewhere", "later"]


async def test_a_client_not_reading_connect_errors_is_told_why_and_let_go(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # The original React client ignores CONNECT_ERROR: it is let in to read the refusal.
    server = await start_server(ip_new_user_rate=Rate(burst=1, per_second=0.1), **QUIET)
    async with (
        websocket_from(server.ws_url, ELSEWHERE) as watcher,
        websocket_from(server.ws_url, OFFICE) as first,
        websocket_from(server.ws_url, OFFICE) as second,
    ):
        await join(watcher, {"username": "watcher"})
        await join(first, {"username": "first"})
        await watcher.text()  # first's user:join
        line = await turned_away(second, {"username": "second"})
        assert line == (
            "You have not joined the chat: too many new users from your address; try again in"
            " 10 s. Press Leave Server to go back and try again."
        )
        # Sending is refused in a line of its own; nothing reaches anyone else.
        await second.send('42["message:channel:send","general","hello?"]')
        event = event_of(await second.text())
        assert event is not None
        assert event[0] == "message:channel"
        assert event[1][1]["message"] == (
            "Your message “hello?” was not sent: you have not joined: too many new users"
            " from your address; try again in 10 s."
        )
        ack, before = await call(watcher, 1, "message:channel:send", "general", "marker")
        assert ack["ok"] is True
        # The watcher got its own message, and no user:join or "hello?" before it.
        assert [json.loads(frame[2:])[2]["message"] for frame in before] == ["marker"]
        # Let go when its time is up: the original client goes back to its login page.
        await trio.sleep(TURNED_AWAY_SECONDS)
        assert await second.text() == "41"
    assert isinstance(server.app, ChatApp)
    assert [user.username for user in await server.app.store.list_users()] == ["watcher", "first"]


async def test_leave_server_lets_a_turned_away_client_go_at_once(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    async with websocket_from(server.ws_url, OFFICE) as poser:
        poser_name = "\uff33\uff39\uff33\uff34\uff25\uff2d"  # fullwidth SYSTEM
        line = await turned_away(poser, {"username": poser_name})
        assert line.startswith(f"You have not joined the chat: username '{poser_name}' looks like")
        await poser.send('42["user:leave"]')
        assert await poser.text() == "41"


async def test_messages_per_address_are_shared_by_its_users(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ip_message_rate=Rate(burst=4, per_second=1.0), **QUIET)
    async with (
        websocket_from(server.ws_url, OFFICE) as first,
        websocket_from(server.ws_url, OFFICE) as second,
        websocket_from(server.ws_url, ELSEWHERE) as outsider,
    ):
        for client, name in ((first, "first"), (second, "second"), (outsider, "outsider")):
            await join(client, {"username": name})
        for ack_id, client in enumerate((first, second, first, second)):
            ack, _ = await call(client, ack_id, "message:channel:send", "general", f"m{ack_id}")
            assert ack["ok"] is True
        # Each user sent two: far under a per-user limit, but the address has had its four.
        ack, before = await call(first, 10, "message:channel:send", "general", "fifth")
        assert ack == {
            "ok": False,
            "error": "too many messages from your address; try again in 1.0 s",
            "retryAfter": 1000,
        }
        assert '42["rate-limited",{"event":"message:channel:send","retryAfter":1000}]' in before
        ack, _ = await call(outsider, 1, "message:channel:send", "general", "unaffected")
        assert ack["ok"] is True
        await trio.sleep(1.0)
        ack, _ = await call(second, 11, "message:channel:send", "general", "after a pause")
        assert ack["ok"] is True


async def test_a_flooder_held_by_its_own_limit_leaves_its_address_room(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        rate_limit=Rate(burst=2, per_second=1.0),
        ip_message_rate=Rate(burst=4, per_second=1.0),
        **QUIET,
    )
    async with (
        websocket_from(server.ws_url, OFFICE) as flooder,
        websocket_from(server.ws_url, OFFICE) as colleague,
    ):
        await join(flooder, {"username": "flooder"})
        await join(colleague, {"username": "colleague"})
        acks = [
            (await call(flooder, n, "message:channel:send", "general", f"spam {n}"))[0]
            for n in range(20)
        ]
        assert [ack["ok"] for ack in acks] == [True, True] + [False] * 18
        assert acks[2]["error"].startswith("you are sending too fast")
        for n in range(2):
            ack, _ = await call(colleague, n, "message:channel:send", "general", f"work {n}")
            assert ack["ok"] is True
