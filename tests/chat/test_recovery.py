"""The chat with connection state recovery and the presence grace: a user whose connection
blips misses no message sent meanwhile and sees none twice, others see no presence flicker,
and a closed tab still goes offline once the grace is over."""

from dataclasses import replace
from typing import Any

import pytest
import trio

from minidiscord.app import ChatApp, create_app
from minidiscord.chat.server import ChatServer
from minidiscord.cli import settings_from
from minidiscord.client import Client
from minidiscord.config import SettingsError
from minidiscord.engine.reasons import CloseReason
from minidiscord.sockets import Socket
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until

GRACE = 0.5
# For a blip that must end within the grace: a reconnect on a loaded CI machine took more
# than GRACE once (the test then saw alice announced offline).
BLIP_GRACE = 10.0


class Seen:
    """Every event one chat client received, in order, with its arguments as sent."""

    def __init__(self, client: Client) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        client.on_any(lambda event, *args: self.events.append((event, args)))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for event, args in self.events if event == name]

    async def first(self, name: str) -> Any:
        """The first argument of the first ``name`` event, once it has come."""
        await wait_until(lambda: bool(self.named(name)))
        return self.named(name)[0][0]

    def texts(self, channel: str) -> list[str]:
        return [m["message"] for c, m, *_ in self.named("message:channel") if c == channel]


def chat_client(**options: Any) -> Client:
    options.setdefault("reconnection_delay", 0.05)
    options.setdefault("reconnection_delay_max", 0.1)
    return Client(transports=("websocket",), **options)


def chat_of(server: RunningServer) -> ChatServer:
    assert isinstance(server.app, ChatApp)
    return server.app.chat


def server_socket(server: RunningServer, sid: str | None) -> Socket:
    socket = server.app.sio.of("/").sockets[sid or ""]
    return socket


def cut(server: RunningServer, client: Client) -> None:
    """Break the client's transport from the server's side, as a network blip would."""
    server.app.engine.sessions[client.engine_sid or ""].close(
        CloseReason.TRANSPORT_CLOSE, flush=False
    )


async def send(client: Client, channel: str, text: str) -> None:
    ack = await client.call("message:channel:send", channel, text, timeout=5)
    assert ack[0]["ok"], ack


async def test_a_blip_misses_no_message_and_sees_none_twice(start_server: ServerFactory) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=GRACE)
    alice, bob = chat_client(auth={"username": "alice"}), chat_client(auth={"username": "bob"})
    seen = Seen(alice)
    async with alice.connect(server.url) as a, bob.connect(server.url) as b:
        await send(b, "general", "before")
        await wait_until(lambda: seen.texts("general") == ["before"])
        first_id = a.id
        cut(server, alice)
        await wait_until(lambda: not a.connected)
        # Sent while alice is away: her socket is gone from the server.
        await send(b, "general", "while away 1")
        await send(b, "react", "while away 2")
        await wait_until(lambda: a.connected)
        assert a.recovered
        assert a.id == first_id
        await send(b, "general", "after")
        await wait_until(lambda: "after" in seen.texts("general"))
        # Still the same user, in every channel, without a new greeting.
        assert server_socket(server, a.id).data["user"].username == "alice"
    assert seen.texts("general") == ["before", "while away 1", "after"]
    assert seen.texts("react") == ["while away 2"]
    assert len(seen.named("session")) == 1
    assert len(seen.named("channels")) == 1
    assert len(seen.named("users")) == 1


async def test_outside_the_window_the_session_id_restores_the_user(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=GRACE)
    bob = chat_client(auth={"username": "bob"})
    async with bob.connect(server.url) as b:
        alice = chat_client(auth={"username": "alice"}, reconnection=False)
        seen = Seen(alice)
        async with alice.connect(server.url):
            session = await seen.first("session")
        await send(b, "general", "while away")
        # A new client (a reload): no pid to recover with, only the sessionId.
        again = chat_client(auth={"sessionId": session["sessionId"]})
        seen_again = Seen(again)
        async with again.connect(server.url) as a2:
            restored = await seen_again.first("session")
            await wait_until(lambda: bool(seen_again.named("channels")))
            assert not a2.recovered
        assert restored["userId"] == session["userId"]
        (channels,) = seen_again.named("channels")[0][:1]
        general = next(c for c in channels if c["name"] == "general")
        assert [m["message"] for m in general["messages"]] == ["while away"]
    assert seen.texts("general") == []


async def test_a_blip_within_the_grace_causes_no_presence_flicker(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=BLIP_GRACE)
    alice, bob = chat_client(auth={"username": "alice"}), chat_client(auth={"username": "bob"})
    watching, greeted = Seen(bob), Seen(alice)
    async with bob.connect(server.url) as b, alice.connect(server.url) as a:
        await wait_until(lambda: bool(watching.named("user:join")))
        # The greeting's last event carries the offset to recover from: cut off before it
        # arrives, a client is greeted anew instead.
        await greeted.first("users")
        cut(server, alice)
        await wait_until(lambda: not a.connected)
        await wait_until(lambda: a.connected)
        assert a.recovered
        # Recovered: its grace timer is cancelled; nothing can announce it offline now.
        await wait_until(lambda: not chat_of(server).grace_pending)
        await send(b, "welcome", "sync")
        await wait_until(lambda: "sync" in watching.texts("welcome"))
        assert chat_of(server).presence.is_online(server_socket(server, a.id).data["user"].user_id)
        # Before the clients close (alice's close is a disconnect of its own).
        assert watching.named("user:disconnect") == []
        assert watching.named("user:connect") == []


async def test_a_closed_tab_shows_offline_once_the_grace_is_over(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=GRACE)
    bob = chat_client(auth={"username": "bob"})
    async with bob.connect(server.url) as b, b.events("user:disconnect") as offline:
        alice = chat_client(auth={"username": "alice"}, reconnection=False)
        seen = Seen(alice)
        async with alice.connect(server.url) as a:
            session = await seen.first("session")
            closed_at = trio.current_time()
            cut(server, alice)
            await wait_until(lambda: not a.connected)
        with trio.fail_after(GRACE + 5):
            event = await offline.receive()
        assert trio.current_time() - closed_at >= GRACE
        assert event.args[0]["userId"] == session["userId"]
        assert not chat_of(server).presence.is_online(session["userId"])


async def test_without_grace_offline_is_at_once_and_a_recovered_user_comes_back(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=0.0)
    alice, bob = chat_client(auth={"username": "alice"}), chat_client(auth={"username": "bob"})
    watching, greeted = Seen(bob), Seen(alice)
    async with bob.connect(server.url) as b, alice.connect(server.url) as a:
        await wait_until(lambda: bool(watching.named("user:join")))
        # The greeting's last event carries the offset to recover from: cut off before it
        # arrives, a client is greeted anew instead.
        await greeted.first("users")
        cut(server, alice)
        await wait_until(lambda: a.connected and a.recovered)
        await send(b, "welcome", "sync")
        await wait_until(lambda: "sync" in watching.texts("welcome"))
        assert [args[0]["username"] for args in watching.named("user:disconnect")] == ["alice"]
        assert [args[0]["username"] for args in watching.named("user:connect")] == ["alice"]


async def test_a_user_who_left_from_another_tab_is_not_recovered(
    start_server: ServerFactory,
) -> None:
    server = await start_server(recovery_window=60.0, presence_grace=GRACE)
    tab1 = chat_client(auth={"username": "alice", "connectErrors": True})
    seen1 = Seen(tab1)
    async with tab1.connect(server.url) as t1:
        session = await seen1.first("session")
        tab2 = chat_client(auth={"sessionId": session["sessionId"]})
        seen2 = Seen(tab2)
        async with tab2.connect(server.url) as t2:
            await seen2.first("session")
            cut(server, tab1)
            await wait_until(lambda: not t1.connected)
            ack = await t2.call("user:leave", timeout=5)
            assert ack[0]["ok"]
            await wait_until(lambda: t1.of("/").connect_error is not None)
    assert t1.of("/").connect_error is not None
    assert "session has ended" in str(t1.of("/").connect_error)


def test_recovery_is_on_by_default_and_the_options_set_or_turn_it_off() -> None:
    default = settings_from([], {})
    assert (default.recovery_window, default.presence_grace) == (120.0, 3.0)
    recovery = create_app(replace(default, store="memory")).sio.recovery
    assert recovery is not None
    assert recovery.max_disconnection_duration == 120.0
    chosen = settings_from(["--recovery-window", "30", "--presence-grace", "0"], {})
    assert (chosen.recovery_window, chosen.presence_grace) == (30.0, 0.0)
    off = settings_from([], {"MINIDISCORD_RECOVERY_WINDOW": "0"})
    assert create_app(replace(off, store="memory")).sio.recovery is None
    with pytest.raises(SettingsError, match="--presence-grace"):
        settings_from(["--presence-grace", "-1"], {})


async def test_only_the_greetings_last_event_carries_an_offset_and_it_recovers(
    start_server: ServerFactory,
) -> None:
    # The greeting is not kept for recovery (at thousands of users each `users` list is
    # large): only its last event carries an offset, so a client that holds one got all of
    # it, and recovers from there.
    server = await start_server(recovery_window=60.0, presence_grace=GRACE)
    bob = chat_client(auth={"username": "bob"})
    alice = chat_client(auth={"username": "alice"})
    seen = Seen(alice)
    async with bob.connect(server.url) as b, alice.connect(server.url) as a:
        await wait_until(lambda: bool(seen.named("users")))
        [session] = seen.named("session")
        [channels] = seen.named("channels")
        [users] = seen.named("users")
        assert (len(session), len(channels)) == (1, 1)
        assert len(users) == 2
        assert isinstance(users[1], str)
        # Cut off with the greeting the last thing it got (its own join went to bob only).
        first_id = a.id
        cut(server, alice)
        await wait_until(lambda: not a.connected)
        await send(b, "general", "while away")
        await wait_until(lambda: a.connected)
        assert a.recovered
        assert a.id == first_id
        await wait_until(lambda: seen.texts("general") == ["while away"])
    assert [name for name, _ in seen.events].count("users") == 1
