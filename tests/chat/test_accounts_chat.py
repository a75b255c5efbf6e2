"""Accounts in the chat, on a real server: connecting with a login (token, sessionId or
cookie), names guests may not take, `--auth accounts`, and sessions that end."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import trio

from minidiscord.app import create_app
from minidiscord.client import Client
from minidiscord.engine.reasons import CloseReason
from tests.chat.rawchat import turned_away
from tests.support.accounts import api, login, register
from tests.support.chatclient import ChatClient
from tests.support.layouts import ChatFactory, spread_over
from tests.support.pysio import WAIT, Recorder
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory
from tests.support.waiting import wait_until

Connect = Callable[[str, dict[str, object], str], Awaitable[ChatClient]]


@pytest.fixture
async def connected(nursery: trio.Nursery) -> AsyncIterator[Connect]:
    """Connects a ChatClient (greeting received); each is closed when the test ends."""
    made: list[ChatClient] = []

    async def connect(url: str, auth: dict[str, object], name: str) -> ChatClient:
        client = ChatClient(url, name, nursery=nursery)
        made.append(client)
        await client.connect(auth)
        return client

    yield connect
    for client in made:
        await client.close()


async def test_a_token_connects_as_the_account_and_others_see_its_role(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server()
    token = await register(server.url, "Ada")
    guest = await connected(server.url, {"username": "grace"}, "guest")
    ada = await connected(server.url, {"token": token}, "ada")
    session = ada.session
    assert (session["username"], session["role"]) == ("Ada", "member")
    # The client sent the token itself: it may keep it as its sessionId, as before.
    assert session["sessionId"] == token
    (joined,) = await guest.wait_for("user:join")
    assert joined == {
        "userId": session["userId"],
        "username": "Ada",
        "connected": True,
        "role": "member",
    }
    (users,) = ada.received("users")[0]
    assert {u["username"]: u["role"] for u in users} == {"grace": "guest", "Ada": "member"}
    ack = await ada.send("general", "hello as a member")
    assert ack["ok"] is True
    # Another login of the same account is the same chat user.
    again = await connected(server.url, {"token": await login(server.url, "ada")}, "two")
    assert again.session["userId"] == session["userId"]
    assert again.session["sessionId"] != token


async def test_a_guest_cannot_take_an_accounts_name_nor_a_look_alike(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server()
    await register(server.url, "ada")
    for name in ("ada", "ADA", "\u0430da", "\uff41\uff44\uff41"):
        client = ChatClient(server.url, name, nursery=nursery)
        refusal = await client.connect_refused({"username": name})
        assert "belongs to an account" in refusal["message"], name
    # The original client (no connectErrors) is told in a System line and let go.
    async with raw_websocket(server.ws_url) as original:
        line = await turned_away(original, {"username": "Ada"})
    assert "the name 'Ada' belongs to an account: log in to use it" in line
    # Other names are as open as ever.
    await connected(server.url, {"username": "grace"}, "grace")


async def test_auth_accounts_refuses_guests_and_lets_logins_in(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server(auth="accounts")
    for auth in ({"username": "grace"}, {}, {"sessionId": "made-up"}):
        client = ChatClient(server.url, "guest", nursery=nursery)
        refusal = await client.connect_refused(auth)
        assert refusal["message"] == "this server is for registered users: log in first"
    unknown = ChatClient(server.url, "unknown", nursery=nursery)
    refusal = await unknown.connect_refused({"token": "not a token"})
    assert "unknown" in refusal["message"]
    token = await register(server.url, "ada")
    ada = await connected(server.url, {"token": token}, "ada")
    assert ada.session["role"] == "member"


async def test_python_socketio_authenticates_with_a_token_or_the_cookie(
    start_server: ServerFactory,
) -> None:
    server = await start_server(auth="accounts")
    token = await register(server.url, "ada")

    def story() -> None:
        by_token = Recorder("token")
        by_token.client.connect(server.url, auth={"token": token}, wait_timeout=WAIT)
        try:
            (session,) = by_token.wait_for("session")
            assert (session["username"], session["sessionId"]) == ("ada", token)
            ack = by_token.client.call("message:channel:send", ("general", "hi"), timeout=WAIT)
            assert ack["ok"] is True
        finally:
            by_token.disconnect()
        by_cookie = Recorder("cookie")
        by_cookie.client.connect(
            server.url,
            headers={"Cookie": f"minidiscord_session={token}"},
            wait_timeout=WAIT,
        )
        try:
            (session,) = by_cookie.wait_for("session")
            # The cookie's token is HttpOnly: the server does not hand it to scripts.
            assert (session["username"], session["sessionId"]) == ("ada", "")
        finally:
            by_cookie.disconnect()

    await trio.to_thread.run_sync(story)


async def test_an_accounts_connect_without_its_login_is_refused_not_made_a_guest(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    # Open mode: without `account`, a connect with no login and no name is a new guest.
    server = await start_server()
    token = await register(server.url, "ada")
    refusal = await ChatClient(server.url, "cookie gone", nursery=nursery).connect_refused(
        {"account": True}
    )
    assert refusal == {"message": "you are not logged in any more; log in again"}
    ada = await connected(server.url, {"account": True, "token": token}, "ada")
    assert ada.session["username"] == "ada"
    (users,) = ada.received("users")[-1]
    assert [user["username"] for user in users] == ["ada"]
    guest = await connected(server.url, {}, "guest")
    assert guest.session["username"].startswith("anonymous_")


async def on_a_clock(start_server: ServerFactory) -> tuple[RunningServer, list[int]]:
    """A server whose wall clock (ms) is ``now[0]``, which the test moves; sessions last an
    hour unused and a day at most."""
    now = [1_000_000_000_000]
    app = create_app(
        replace(TEST_SETTINGS, session_idle=3600.0, session_lifetime=86400.0),
        clock=lambda: now[0],
    )
    return await start_server(app), now


async def test_an_expired_session_is_refused_on_restore_with_why(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server, now = await on_a_clock(start_server)
    token = await register(server.url, "ada")
    ada = await connected(server.url, {"token": token}, "ada")
    await ada.disconnect()
    # Within the idle lifetime the original restore by sessionId still works.
    now[0] += 3599_000
    back = await connected(server.url, {"sessionId": token}, "back")
    await back.disconnect()
    now[0] += 3600_000
    idle = ChatClient(server.url, "idle", nursery=nursery)
    refusal = await idle.connect_refused({"sessionId": token})
    assert "expired after a long time unused" in refusal["message"]

    # Used every half hour, a session still ends at its absolute lifetime.
    token = await login(server.url, "ada")
    for _ in range(47):
        now[0] += 1800_000
        used = await connected(server.url, {"token": token}, "used")
        await used.disconnect()
    now[0] += 1800_000
    old = ChatClient(server.url, "old", nursery=nursery)
    refusal = await old.connect_refused({"token": token})
    assert "too old and has expired" in refusal["message"]


async def test_a_revoked_session_lets_its_sockets_go_and_is_refused_on_restore(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server()
    laptop = await register(server.url, "ada")
    phone = await login(server.url, "ada")
    watcher = await connected(server.url, {"username": "watcher"}, "watcher")
    on_laptop = await connected(server.url, {"token": laptop}, "laptop")
    on_phone = await connected(server.url, {"token": phone}, "phone")
    listed = (await api(server.url, "sessions", token=laptop)).json()["sessions"]
    phone_id = next(s["id"] for s in listed if not s["current"])
    answer = await api(server.url, "sessions/revoke", {"session": phone_id}, token=laptop)
    assert answer.json()["ended"] == 1
    # The phone is let go at once (a server-side disconnect: no reconnecting on its own).
    (reason,) = await on_phone.wait_for("disconnect")
    assert reason == "io server disconnect"
    refusal = await ChatClient(server.url, "again", nursery=nursery).connect_refused(
        {"sessionId": phone}
    )
    assert "revoked by its owner" in refusal["message"]
    # The laptop carries on; ada is still online for others.
    assert (await on_laptop.send("general", "still here"))["ok"] is True
    assert not watcher.received("user:disconnect")

    # A new password ends the laptop's session too when changed from another login.
    desk = await login(server.url, "ada")
    changed = await api(
        server.url,
        "password",
        {"current": "correct horse battery", "new": "new secret!"},
        token=desk,
    )
    assert changed.json()["ended"] == 1
    (reason,) = await on_laptop.wait_for("disconnect")
    assert reason == "io server disconnect"
    (gone,) = await watcher.wait_for("user:disconnect")
    assert (gone["username"], gone["role"]) == ("ada", "member")
    refusal = await ChatClient(server.url, "laptop2", nursery=nursery).connect_refused(
        {"token": laptop}
    )
    assert "the password was changed" in refusal["message"]


async def test_user_leave_logs_an_account_out_and_keeps_its_user(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server()
    token = await register(server.url, "ada")
    ada = await connected(server.url, {"token": token}, "ada")
    user_id = ada.session["userId"]
    assert await ada.call("user:leave") == {"ok": True}
    await ada.wait_for("disconnect")
    refusal = await ChatClient(server.url, "back", nursery=nursery).connect_refused(
        {"sessionId": token}
    )
    assert "logged out" in refusal["message"]
    again = await connected(server.url, {"token": await login(server.url, "ada")}, "new")
    assert again.session["userId"] == user_id


async def test_the_original_protocol_still_works_with_accounts_on_the_server(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server = await start_server()
    await register(server.url, "ada")
    grace = await connected(server.url, {"username": "grace"}, "grace")
    session = grace.session
    await grace.disconnect()
    back = await connected(server.url, {"sessionId": session["sessionId"]}, "back")
    assert back.session["userId"] == session["userId"]
    assert back.session["role"] == "guest"


async def test_no_token_is_logged_by_connects(
    start_server: ServerFactory,
    nursery: trio.Nursery,
    connected: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server()
    token = await register(server.url, "ada")
    ada = await connected(server.url, {"token": token}, "ada")
    await ada.call("user:leave")
    await ChatClient(server.url, "ended", nursery=nursery).connect_refused({"token": token})
    await ChatClient(server.url, "made up", nursery=nursery).connect_refused(
        {"token": "not-a-real-token-but-secret-looking"}
    )
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("minidiscord")
    )
    # Why each connect was refused is logged; with what, never.
    assert "refused a connection to /: this login session has ended (logged out)" in logged
    assert "refused a connection to /: this login token is unknown" in logged
    assert token not in logged
    assert "not-a-real-token-but-secret-looking" not in logged


async def test_a_guests_session_expires_too_and_is_refused_on_restore_with_why(
    start_server: ServerFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    server, now = await on_a_clock(start_server)
    grace = await connected(server.url, {"username": "grace"}, "grace")
    session = grace.session
    # Online in one tab, a guest's session restores in another whatever the time.
    now[0] += 7200_000
    tab = await connected(server.url, {"sessionId": session["sessionId"]}, "tab")
    await tab.disconnect()
    await grace.disconnect()  # last seen now
    # Within the idle lifetime the original client's restore works as it always did.
    now[0] += 3599_000
    back = await connected(server.url, {"sessionId": session["sessionId"]}, "back")
    assert back.session["userId"] == session["userId"]
    await back.disconnect()
    now[0] += 3600_000
    refusal = await ChatClient(server.url, "idle", nursery=nursery).connect_refused(
        {"sessionId": session["sessionId"]}
    )
    assert refusal["message"] == (
        "this guest session expired after a long time unused; connect again to start a new one"
    )
    # The original client, turned away, is told why in its channels.
    async with raw_websocket(server.ws_url) as original:
        line = await turned_away(original, {"sessionId": session["sessionId"]})
    assert "guest session expired" in line

    # Used every half hour, a guest session still ends at its absolute lifetime.
    fresh = await connected(server.url, {"username": "ada"}, "ada")
    sid = fresh.session["sessionId"]
    await fresh.disconnect()
    for _ in range(47):
        now[0] += 1800_000
        used = await connected(server.url, {"sessionId": sid}, "used")
        await used.disconnect()
    now[0] += 1800_000
    refusal = await ChatClient(server.url, "old", nursery=nursery).connect_refused(
        {"sessionId": sid}
    )
    assert "guest session is too old and has expired" in refusal["message"]


@spread_over(1, 3)
async def test_an_account_made_on_one_node_logs_in_on_another(
    start_chat: ChatFactory, nursery: trio.Nursery, connected: Connect
) -> None:
    nodes = await start_chat()
    first, last = nodes[0], nodes[-1]
    token = await register(first.url, "ada")
    watcher = await connected(first.url, {"username": "watcher"}, "watcher")
    ada = await connected(last.url, {"token": token}, "ada")
    assert ada.session["role"] == "member"
    (joined,) = await watcher.wait_for("user:join")
    assert (joined["username"], joined["role"]) == ("ada", "member")
    refusal = await ChatClient(last.url, "poser", nursery=nursery).connect_refused(
        {"username": "ADA"}
    )
    assert "belongs to an account" in refusal["message"]
    # A login on the last node, used on the first: one chat user for the account.
    again = await connected(first.url, {"token": await login(last.url, "ada")}, "again")
    assert again.session["userId"] == ada.session["userId"]


async def test_a_dropped_socket_of_a_revoked_login_is_not_recovered(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=0.5)
    token = await register(server.url, "ada")
    client = Client(
        transports=("websocket",),
        auth={"token": token, "connectErrors": True},
        # Long enough for the revocation to come first (a local HTTP call).
        reconnection_delay=2.0,
        reconnection_delay_max=2.0,
    )
    sessions: list[Any] = []
    client.on("session", lambda session, *_: sessions.append(session))
    async with client.connect(server.url) as connection:
        await wait_until(lambda: bool(sessions))
        # Revoked while its connection is down: the socket is not there to be let go.
        engine = server.app.engine
        engine.sessions[client.engine_sid or ""].close(CloseReason.TRANSPORT_CLOSE, flush=False)
        await wait_until(lambda: not connection.connected)
        await api(server.url, "sessions/revoke", {"all": True}, token=token)
        await wait_until(lambda: connection.of("/").connect_error is not None)
    assert "revoked by its owner" in str(connection.of("/").connect_error)
