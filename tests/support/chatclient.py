"""A recording chat client for end-to-end tests, on the project's trio Socket.IO client.

Every event the server sends (and the client's own ``connect``, ``disconnect`` and
``connect_error``) is recorded in arrival order for the tests to wait on and inspect. It
runs in the test's trio run (no threads), so a test may use it on trio's MockClock. Tests
that check exact frames or send what no client would use ``rawclient`` instead.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from minidiscord.client import Client, ConnectError

from .eventlog import WAIT, EventLog

CHAT_EVENTS = (
    "session",
    "channels",
    "users",
    "user:join",
    "user:connect",
    "user:leave",
    "user:disconnect",
    "message:channel",
)


class ChatClient(EventLog):
    """One chat connection over WebSocket that records what it receives.

    Its connection runs as a task in ``nursery`` (the test's, e.g. pytest-trio's
    ``nursery`` fixture), which must outlive the client; ``close`` ends it.
    """

    def __init__(self, url: str, name: str = "client", *, nursery: trio.Nursery) -> None:
        super().__init__(name)
        self.url = url
        self._nursery = nursery
        self._done = trio.Event()
        self._done.set()
        # No reconnection: the tests decide when a client comes back, as a new client.
        self.sio = Client(transports=("websocket",), reconnection=False, timeout=WAIT)
        self.sio.on_any(self._record)
        self.sio.on("connect", lambda: self._record("connect"))
        self.sio.on("disconnect", lambda reason: self._record("disconnect", reason))
        self.sio.on("connect_error", self._connect_error)

    def __repr__(self) -> str:
        return f"ChatClient({self.name})"

    def _connect_error(self, error: ConnectError) -> None:
        # As the server sent it: {message, data?}.
        data: dict[str, Any] = {"message": error.message}
        if error.data is not None:
            data["data"] = error.data
        self._record("connect_error", data)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        try:
            async with self.sio.connect(self.url):
                task_status.started()
                await self.sio.wait_closed()
        finally:
            self._done.set()

    async def connect(
        self, auth: dict[str, Any] | None = None, transports: list[str] | None = None
    ) -> None:
        """Connect (over WebSocket unless told) and wait for the three greeting events."""
        self.sio.of("/").auth = auth
        self.sio.transports = tuple(transports or ["websocket"])
        self._done = trio.Event()
        try:
            await self._nursery.start(self._run)
        except BaseException:
            self._done.set()
            raise
        await self.wait_for("users")

    async def connect_refused(self, auth: Any) -> Any:
        """Connect as a client that reads CONNECT_ERROR, expecting one; returns its data."""
        if isinstance(auth, dict):
            auth = {**auth, "connectErrors": True}
        try:
            await self.connect(auth)
        except ConnectError:
            pass
        else:
            raise AssertionError(f"{self.name}: joined, expected a refusal")
        return (await self.wait_for("connect_error"))[0]

    async def call(self, event: str, *args: Any) -> Any:
        """Emit with an ack and return the ack's argument (a tuple when there are several)."""
        answer = await self.sio.call(event, *args, timeout=WAIT)
        if len(answer) == 1:
            return answer[0]
        return tuple(answer) or None

    async def send(self, channel: Any, text: Any) -> Any:
        return await self.call("message:channel:send", channel, text)

    async def emit(self, event: str, *args: Any) -> None:
        self.sio.emit(event, *args)

    async def disconnect(self) -> None:
        await self.sio.disconnect()
        await self._done.wait()

    async def drop(self) -> None:
        """Lose the connection abruptly: the WebSocket closes with no Socket.IO DISCONNECT
        and no Engine.IO CLOSE, as when a laptop lid shuts or a network drops."""
        # The client has no public way to lose its connection on purpose; closing its
        # Engine.IO session directly skips the Socket.IO DISCONNECT, and over WebSocket
        # the session ends with the WebSocket's close alone.
        engine = self.sio._engine
        assert engine is not None, "not connected"
        assert engine.transport_name == "websocket", "drop() is for WebSocket clients"
        await engine.close()
        await self.wait_for("disconnect")

    @property
    def session(self) -> dict[str, Any]:
        return dict(self.received("session")[-1][0])

    async def close(self) -> None:
        if not self._done.is_set():
            await self.disconnect()


@asynccontextmanager
async def joined(url: str, auth: dict[str, Any], name: str = "client") -> AsyncIterator[ChatClient]:
    """A :class:`ChatClient` connected with ``auth`` (greeting received) for the block, in a
    nursery of its own; it disconnects when the block ends."""
    async with trio.open_nursery() as nursery:
        client = ChatClient(url, name, nursery=nursery)
        await client.connect(auth)
        try:
            yield client
        finally:
            await client.close()


class Clients:
    """The clients a test connects (in ``nursery``), each closed by ``close``."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.made: list[ChatClient] = []

    async def join(self, url: str, auth: dict[str, Any], name: str) -> ChatClient:
        client = ChatClient(url, name, nursery=self._nursery)
        self.made.append(client)
        await client.connect(auth)
        return client

    async def close(self) -> None:
        for client in self.made:
            await client.close()


async def let_go(*tabs: ChatClient) -> None:
    """Until each tab is disconnected by the server ("io server disconnect": a kick, a
    ban, an ended login session)."""
    for tab in tabs:
        (reason,) = await tab.wait_for("disconnect")
        assert reason == "io server disconnect", tab
