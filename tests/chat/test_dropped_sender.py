"""A sender dropped while its message is being stored: the message still reaches the channel,
and the users it mentions are told.

The chat's sends are applied in the connection's reader without a cancel scope of their own
(``Namespace.answer_in_reader``), and dropping a connection (a slow consumer, a ping
timeout) cancels that reader on the native front end (on hypercorn the reader is
hypercorn's task, which the drop does not cancel). What must outlive the sender once the
store has its message is uncancellable by itself: the store's commit (the Store contract,
which HeldStore keeps as every backend does: unshielded, this test fails on the native
front end), then on one node nothing waits before the broadcast and the notifications.
The cluster's wait until shown is shielded in sending.py; no test here reaches it.
"""

from typing import Any

import trio
import trio.lowlevel

from minidiscord.app import App
from minidiscord.chat.models import Message, User
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.engine.reasons import CloseReason
from minidiscord.sockets.client import Client
from minidiscord.sockets.inbox import LINGER
from tests.sockets.test_in_reader import READER
from tests.support.chatclient import ChatClient
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until

WAIT = 10


class HeldStore(MemoryStore):
    """Holds its next message's commit until released, uncancellable as every backend's
    write is once called (the Store contract)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_next = False
        self.held = trio.Event()
        self.release = trio.Event()
        self.held_in = ""

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        message = await super().add_message(channel, user, text, timestamp)
        if self.hold_next:
            self.hold_next = False
            self.held_in = trio.lowlevel.current_task().name
            self.held.set()
            with trio.CancelScope(shield=True):
                await self.release.wait()
        return message


def client_of(app: App, username: str) -> Client:
    """The server's end of ``username``'s connection."""
    for socket in app.sio.of("/").sockets.values():
        user = socket.data.get("user")
        if user is not None and user.username == username:
            return socket.client
    raise AssertionError(f"{username} is not connected")


async def test_a_message_whose_sender_is_dropped_during_its_commit_is_shown_and_notified(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    app = App(TEST_SETTINGS)
    store = HeldStore()
    chat = ChatServer(app.sio, store)
    server = await start_server(app)
    await chat.start()
    ada = ChatClient(server.url, "ada", nursery=nursery)
    bob = ChatClient(server.url, "bob", nursery=nursery)
    try:
        await ada.connect({"username": "ada"})
        await bob.connect({"username": "bob"})
        sender = client_of(app, "ada")
        # Once the worker that applied the CONNECT is gone, a message is the reader's.
        await wait_until(lambda: not sender._inbox.busy, timeout=LINGER + 5)
        store.hold_next = True
        await ada.emit("message:channel:send", "general", "over to you @bob")
        with trio.fail_after(WAIT):
            await store.held.wait()
        assert store.held_in == READER
        # As the slow-consumer rule and a ping timeout drop a client: no flush.
        sender.session.close(CloseReason.SLOW_CONSUMER, flush=False)
        await ada.wait_for("disconnect")
        store.release.set()
        shown: Any = await bob.wait_for("message:channel")
        assert shown[0] == "general"
        assert shown[1]["message"] == "over to you @bob"
        (mention,) = await bob.wait_for("mention")
        assert mention["message"]["id"] == shown[1]["id"]
    finally:
        store.release.set()
        for client in (ada, bob):
            await client.close()
