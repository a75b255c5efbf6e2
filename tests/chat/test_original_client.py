"""What the original React client cannot read (acks, CONNECT_ERROR) reaches it some other way.

That client sends without an ack callback and shows only `message:channel` events, so a
message or leave the server refuses is told to it as a System line in the channel, on
its connection alone; a client that asked for an ack gets the ack and no such line. A name
too long is shortened, not refused; other refused connects are in
tests/hardening/test_identity_limits.py and test_original_client_node.py.

The rate-limit scenarios also run with their clients spread over two nodes of a cluster
(a System line must not travel through the shared log); the other refusals are told by the
same socket-local emit, so they run on one node.
"""

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio

from minidiscord.app import App
from minidiscord.chat.models import Message, User
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.chat.store.base import StoreWriteError
from minidiscord.config import Settings
from minidiscord.limits import Rate
from tests.support.chatclient import ChatClient
from tests.support.layouts import ChatFactory
from tests.support.servers import RunningServer, ServerFactory

# Two messages, then one per 1000 s: a refusal the test makes cannot expire while it runs.
TWO_THEN_NONE = Rate(burst=2, per_second=0.001)

OpenClients = Callable[..., "Clients"]


class Clients:
    """Clients of a chat, taking turns between its nodes' ``urls``."""

    def __init__(self, urls: list[str], nursery: trio.Nursery) -> None:
        self.urls = urls
        self.nursery = nursery
        self.made: list[ChatClient] = []

    async def connect(self, name: str, username: str | None = None) -> ChatClient:
        url = self.urls[len(self.made) % len(self.urls)]
        client = ChatClient(url, name, nursery=self.nursery)
        self.made.append(client)
        await client.connect({"username": name if username is None else username})
        return client


@pytest.fixture
async def open_clients(nursery: trio.Nursery) -> AsyncIterator[OpenClients]:
    """Clients of a chat's servers, all closed at the end."""
    opened: list[Clients] = []

    def clients_of(*servers: RunningServer) -> Clients:
        clients = Clients([server.url for server in servers], nursery)
        opened.append(clients)
        return clients

    yield clients_of
    for clients in opened:
        for client in clients.made:
            await client.close()


def system_lines(client: ChatClient, channel: str) -> list[str]:
    return [m["message"] for m in client.messages(channel) if m["username"] == "System"]


def chat_lines(client: ChatClient, channel: str) -> list[str]:
    return [m["message"] for m in client.messages(channel) if m["username"] != "System"]


async def barrier(sender: ChatClient, *everyone: ChatClient, text: str) -> None:
    """Everything emitted to `everyone` before `text` (sent with an ack) has arrived."""
    assert (await sender.send("casual", text))["ok"] is True
    for client in (sender, *everyone):
        await client.wait_for("message:channel", lambda _c, m: m["message"] == text)


async def test_messages_refused_by_the_rate_limit_are_told_to_an_ackless_sender_alone(
    start_chat: ChatFactory, open_clients: OpenClients
) -> None:
    # On two nodes bob is on another node than ann: her System lines stay on hers.
    clients = open_clients(*await start_chat(rate_limit=TWO_THEN_NONE))
    ann = await clients.connect("ann")
    bob = await clients.connect("bob")
    for n in range(5):
        await ann.emit("message:channel:send", "general", f"burst {n}")
    await ann.wait_for("message:channel", count=5)
    assert chat_lines(ann, "general") == ["burst 0", "burst 1"]
    notices = [m for m in ann.messages("general") if m["username"] == "System"]
    assert len(notices) == 3
    for n, notice in zip((2, 3, 4), notices, strict=True):
        # A token comes back every 1000 s: the wait is about that, said in seconds.
        expected = f"Your message “burst {n}” was not sent: you are sending too fast; try again in "
        assert re.fullmatch(re.escape(expected) + r"(999\.\d|1000\.0) s\.", notice["message"])
    for notice in notices:
        assert set(notice) == {"id", "userId", "username", "timestamp", "message"}
        assert notice["userId"] == "system"
        assert isinstance(notice["timestamp"], int)
    assert len({m["id"] for m in notices}) == 3
    # The line is ann's alone: bob sees her two messages and nothing else.
    await barrier(bob, ann, text="bob was here")
    assert chat_lines(bob, "general") == ["burst 0", "burst 1"]
    assert system_lines(bob, "general") == []
    assert all(system_lines(bob, channel) == [] for channel in ("welcome", "casual"))


async def test_a_sender_with_an_ack_callback_gets_the_ack_and_no_system_line(
    start_chat: ChatFactory, open_clients: OpenClients
) -> None:
    clients = open_clients(*await start_chat(rate_limit=TWO_THEN_NONE))
    cat = await clients.connect("cat")
    dan = await clients.connect("dan")
    acks = [await cat.send("general", f"acked {n}") for n in range(3)]
    assert [ack["ok"] for ack in acks] == [True, True, False]
    assert acks[2]["error"].startswith("you are sending too fast; try again in ")
    assert 990_000 < acks[2]["retryAfter"] <= 1_000_000
    refused = await cat.send("general", "   ")
    assert refused["ok"] is False
    await barrier(dan, cat, text="dan was here")
    assert chat_lines(cat, "general") == ["acked 0", "acked 1"]
    assert all(system_lines(cat, channel) == [] for channel in ("general", "casual"))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("x" * 2001, "message is too long (2001 characters, at most 2000)"),
        ("   ", "message is empty"),
        ("ring\x07", "message may not contain control characters"),
    ],
)
async def test_an_invalid_message_without_an_ack_is_told_in_its_channel(
    server: Any, open_clients: OpenClients, text: str, line: str
) -> None:
    clients = open_clients(server)
    eve = await clients.connect("eve")
    fay = await clients.connect("fay")
    await eve.emit("message:channel:send", "react", text)
    [(channel, notice)] = [
        await eve.wait_for("message:channel", lambda c, m: m["username"] == "System")
    ]
    assert channel == "react"
    assert notice["message"].startswith("Your message ")
    assert notice["message"].endswith(f" was not sent: {line}.")
    assert "\x07" not in notice["message"]
    await barrier(fay, eve, text="fay was here")
    assert system_lines(fay, "react") == []
    assert chat_lines(eve, "react") == []


async def test_a_message_to_an_unknown_channel_stays_unanswered_as_on_the_original_server(
    server: Any, open_clients: OpenClients
) -> None:
    clients = open_clients(server)
    gus = await clients.connect("gus")
    await gus.emit("message:channel:send", "random", "hello?")
    await barrier(gus, text="gus was here")
    assert [m["message"] for m in gus.messages()] == ["gus was here"]


class RefusingStore(MemoryStore):
    """A memory store whose writes fail, as a full disk's do, once `refusing` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        if self.refusing:
            raise StoreWriteError("the disk is full")
        return await super().add_message(channel, user, text, timestamp)

    async def delete_user(self, user_id: str) -> bool:
        if self.refusing:
            raise StoreWriteError("the disk is full")
        return await super().delete_user(user_id)


async def test_a_store_failure_is_told_to_an_ackless_client_on_send_and_on_leave(
    start_server: ServerFactory, open_clients: OpenClients
) -> None:
    app = App(Settings(host="127.0.0.1", port=0, recovery_window=0.0))
    store = RefusingStore()
    ChatServer(app.sio, store)
    server = await start_server(app)
    clients = open_clients(server)
    hal = await clients.connect("hal")
    store.refusing = True
    await hal.emit("message:channel:send", "learners", "kept?")
    (_, notice) = await hal.wait_for("message:channel", lambda c, m: m["username"] == "System")
    assert notice["message"] == (
        "Your message “kept?” was not sent: the server could not store the message."
    )
    await hal.emit("user:leave")
    for channel in ("welcome", "general", "react", "learners", "casual"):
        await hal.wait_for(
            "message:channel",
            lambda c, m, channel=channel: c == channel and m["message"].startswith("You have not"),
        )
    [line] = {m["message"] for m in hal.messages() if m["message"].startswith("You have not left")}
    assert line == (
        "You have not left the server: the server could not end your session."
        " Try Leave Server again."
    )
    assert hal.sio.connected
    # With an ack callback, the same failure is in the ack only.
    assert await hal.call("user:leave") == {
        "ok": False,
        "error": "the server could not end your session",
    }
    store.refusing = False
    assert (await hal.send("casual", "after")) == {"ok": True, "id": 1}
    assert len([m for m in hal.messages() if m["message"].startswith("You have not")]) == 5


async def test_a_name_too_long_is_shortened_not_refused(
    server: Any, open_clients: OpenClients
) -> None:
    clients = open_clients(server)
    ivy = await clients.connect("ivy")
    long_name = "Jonathan Christopher Montgomery-Smythe"  # 38 characters
    jon = await clients.connect("jon", username=long_name)
    shortened = "Jonathan Christopher Montgomery-"
    assert jon.session["username"] == shortened
    (joined,) = await ivy.wait_for("user:join")
    assert joined["username"] == shortened
    assert (await jon.send("general", "hi"))["ok"] is True
    (_, message) = await ivy.wait_for("message:channel")
    assert message["username"] == shortened
