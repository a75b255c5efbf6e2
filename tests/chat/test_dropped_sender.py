"""A sender dropped while its message is being stored: the message still reaches the channel,
and the users it mentions are told.

The chat's sends are applied in the connection's reader without a cancel scope of their own
(``Namespace.answer_in_reader``), and dropping a connection (a slow consumer, a ping
timeout) cancels that reader on the native front end (on hypercorn the reader is
hypercorn's task, which the drop does not cancel). What must outlive the sender once the
store has its message is uncancellable by itself: the store's commit (the Store contract,
which HeldStore keeps as every backend does: unshielded, this test fails on the native
front end), then on one node nothing waits before the broadcast and the notifications.
In cluster mode the sender waits until its node has shown the message (``Feed.shown``), and
the notifications come after that wait: the second test drops the sender there.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

import trio
import trio.lowlevel

from minidiscord.app import App
from minidiscord.chat.cluster.reader import LogSink
from minidiscord.chat.feed import Feed
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


@asynccontextmanager
async def ada_and_bob(
    start_server: ServerFactory,
    nursery: trio.Nursery,
    store: MemoryStore,
    release: Callable[[], None],
    feed: Feed | None = None,
) -> AsyncIterator[tuple[ChatClient, ChatClient, Client]]:
    """A chat on ``store`` (and ``feed``) with ada and bob joined: their clients, and the
    server's end of ada's connection once a message of hers is applied in its reader.
    ``release`` lets go of whatever the test held before the clients close."""
    app = App(TEST_SETTINGS)
    chat = ChatServer(app.sio, store, feed=feed)
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
        yield ada, bob, sender
    finally:
        release()
        for client in (ada, bob):
            await client.close()


def drop(sender: Client) -> None:
    """As the slow-consumer rule and a ping timeout drop a client: no flush. Its reader is
    cancelled at once; the client hears of the drop once that reader has ended."""
    sender.session.close(CloseReason.SLOW_CONSUMER, flush=False)


async def shown_and_notified(ada: ChatClient, bob: ChatClient) -> None:
    """Once let go, ada's message reaches bob with its mention of him, and ada is gone."""
    shown: Any = await bob.wait_for("message:channel")
    assert shown[0] == "general"
    assert shown[1]["message"] == "over to you @bob"
    (mention,) = await bob.wait_for("mention")
    assert mention["message"]["id"] == shown[1]["id"]
    await ada.wait_for("disconnect")


async def test_a_message_whose_sender_is_dropped_during_its_commit_is_shown_and_notified(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    store = HeldStore()
    async with ada_and_bob(start_server, nursery, store, store.release.set) as (ada, bob, sender):
        store.hold_next = True
        await ada.emit("message:channel:send", "general", "over to you @bob")
        with trio.fail_after(WAIT):
            await store.held.wait()
        assert store.held_in == READER
        drop(sender)
        store.release.set()
        await shown_and_notified(ada, bob)


class OneNodeLog:
    """The cluster's Feed for one node without Redis: every entry is applied to the node's
    sink at once, except messages while ``held`` (the log reader running behind), which
    ``release`` applies. Positions are the store's message ids."""

    def __init__(self) -> None:
        self.sink: LogSink | None = None
        self.applied = 0
        self.held = False
        self.waiting = trio.Event()
        self._pending: list[Message] = []
        self._changed = trio.Event()
        self._seen: set[str] = set()

    def attach(self, sink: LogSink) -> None:
        self.sink = sink
        sink.reset(0, [], resync=False)

    def _sink(self) -> LogSink:
        assert self.sink is not None
        return self.sink

    def committed(self, message: Message) -> None:
        """The store's commit appended ``message`` to the log."""
        self._pending.append(message)
        if not self.held:
            self.release()

    def release(self) -> None:
        self.held = False
        for message in self._pending:
            self._sink().message(message.id, message)
            self.applied = message.id
        self._pending.clear()
        self._changed.set()
        self._changed = trio.Event()

    async def arrive(self, socket_id: str, user: User) -> None:
        first = user.user_id not in self._seen
        self._seen.add(user.user_id)
        self._sink().online(self.applied, user, first=first)

    def offset_at(self, position: int) -> AbstractContextManager[None]:
        return nullcontext()

    def depart(self, socket_id: str) -> None:
        pass

    async def shown(self, position: int) -> bool:
        while self.applied < position:
            self.waiting.set()
            await self._changed.wait()
        return True

    async def announce(self, effect: dict[str, Any]) -> None:
        self._sink().moderated(self.applied, effect)

    async def caught_up(self) -> bool:
        return True


class LoggingStore(MemoryStore):
    """A memory store whose commits go to the log, as the Redis store's do."""

    def __init__(self, log: OneNodeLog) -> None:
        super().__init__()
        self.log = log

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        message = await super().add_message(channel, user, text, timestamp)
        self.log.committed(message)
        return message


async def test_in_cluster_mode_a_sender_dropped_while_its_message_is_shown_still_notifies(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    log = OneNodeLog()
    store = LoggingStore(log)
    async with ada_and_bob(start_server, nursery, store, log.release, log) as (ada, bob, sender):
        log.held = True
        await ada.emit("message:channel:send", "general", "over to you @bob")
        with trio.fail_after(WAIT):
            await log.waiting.wait()
        drop(sender)
        log.release()
        await shown_and_notified(ada, bob)
