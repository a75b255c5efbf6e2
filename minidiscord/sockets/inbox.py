"""The packets of one connection that take turns: EVENT, CONNECT and DISCONNECT.

The transport's task reads a connection's packets; a handler may await something only a
later packet brings (an acknowledgement from its own client), so handlers cannot run in
that task. They run in a worker task instead, one packet at a time in arrival order (trio
does not start tasks in the order they were spawned, so a task per packet would not keep
the order). The worker exists only while there is work (and for a moment after, see
LINGER): an idle connection holds no task.

The queue is bounded in packets and in bytes; when it is full the reader waits for room,
so a client that sends faster than its handlers finish is slowed down at its socket, as
when the reader ran the handlers itself.

Events whose handlers never wait for their own client (``Namespace.answer_in_reader``: the
chat's messages) are applied in the reader's own task when nothing waits its turn
(:meth:`Inbox.apply_or_put`), with the same wait at the close: the worker's wake-up per
packet (an event, a timeout, a scheduler round trip) was most of what a chat message cost
the server beyond its broadcast. Such a packet gets no cancel scope of its own: entering
and leaving one was the largest piece left of a chat message's own cost (about 50,000 of
its 450,000 instructions), and what a scope would give it, the handler's promise already
covers. The connection's end may cut it at an await wherever the reader is cancelled then
(the engine's own reader task: the native front end's, hypercorn's HTTP/2 WebSockets';
at once when the connection is dropped, after the flush when it closes cleanly), so a
handler that promises to answer in the reader makes what it must not lose uncancellable
itself (the chat's store writes are, by the Store contract). The close handler's bound
does not cut it either: it may end after the close handler. What another task puts behind
it meanwhile made no promise: a worker applies that, or the close.
"""

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..protocol.socketio import Packet

# Enough to keep reading while one handler awaits a round trip to its client; small
# enough that a flood is held at the socket, not in memory.
INBOX_PACKETS = 16

# How long an idle worker waits for the next packet before it ends: starting a task costs
# several times what waking one does, and a busy client's next packet is usually that
# close; a connection quiet for longer holds no task.
LINGER = 0.5


class Inbox:
    """Packets waiting for their turn (see the module's docstring).

    ``apply`` handles one packet; ``start_soon`` runs the worker as a task of the
    connection. ``max_bytes`` bounds the encoded size of what waits; one packet is always
    taken when nothing waits, whatever its size.

    The connection closing does not cut the worker short: what the client sent before it
    left is applied (a message then a close, as the reference server does), until
    :meth:`finish`, which the close handler awaits under its own bound.
    """

    __slots__ = (
        "_apply",
        "_applying_in_reader",
        "_bytes",
        "_closed",
        "_idle",
        "_lingers",
        "_more",
        "_queue",
        "_room",
        "_start_soon",
        "_worker",
        "max_bytes",
    )

    def __init__(
        self,
        apply: Callable[[Packet], Awaitable[None]],
        start_soon: Callable[..., Any],
        max_bytes: int,
    ) -> None:
        self._apply = apply
        self._start_soon = start_soon
        self.max_bytes = max_bytes
        # None while no worker is due: an idle connection keeps no queue.
        self._queue: deque[tuple[Packet, int]] | None = None
        self._bytes = 0
        self._room: trio.Event | None = None
        self._idle: trio.Event | None = None
        # Set by put when the worker lingers for more work.
        self._more: trio.Event | None = None
        # False once the packets being applied are to be followed by none (apply_or_put).
        self._lingers = True
        # The running worker's scope (shielded from the connection's close; see finish).
        self._worker: trio.CancelScope | None = None
        # A packet is being applied in the caller's task (apply_or_put), not the worker's.
        self._applying_in_reader = False
        self._closed = False

    @property
    def busy(self) -> bool:
        """A worker is due or running (a handler, packets waiting for their turn, or
        lingering for the next)."""
        return self._queue is not None

    def __len__(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    async def put(self, packet: Packet, size: int) -> None:
        """Queue ``packet`` (``size`` bytes as received); waits while the queue is full."""
        while self._full(size):
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()
        if self._closed:
            return
        if self._queue is None:
            self._queue = deque()
            self._start_soon(self._work)
        self._queue.append((packet, size))
        self._bytes += size
        if self._more is not None:
            self._more.set()

    async def apply_or_put(self, packet: Packet, size: int) -> None:
        """For a packet whose handler never waits for a later packet of its own client:
        applied in the caller's task (the connection's reader, which reads nothing until
        it returns) when nothing waits its turn, awaited by :meth:`finish` as the worker
        is but not shielded (see the module's docstring); otherwise queued, and the worker
        ends once the queue is empty instead of lingering, so that the next such packet is
        applied here."""
        if self._queue is not None:
            self._lingers = False
            await self.put(packet, size)
            return
        if self._closed:
            return
        # Packets another task puts meanwhile (a POST's, while the WebSocket that replaces
        # it starts reading) wait behind this one for a worker: they made no promise, and
        # this task may be cut.
        self._queue = deque()
        self._bytes = size
        self._lingers = False
        self._applying_in_reader = True
        try:
            await self._apply(packet)
        finally:
            self._applying_in_reader = False
            if not self._queue:
                self._end()
            else:
                self._bytes -= size
                self._wake_reader()
                if not self._closed:
                    self._start_soon(self._work)
                elif self._idle is not None:
                    # finish() waits: no worker starts once closing, so it applies them.
                    self._idle.set()

    def _full(self, size: int) -> bool:
        queue = self._queue
        if self._closed or not queue:
            return False
        return len(queue) >= INBOX_PACKETS or self._bytes + size > self.max_bytes

    async def _work(self) -> None:
        with trio.CancelScope(shield=True) as self._worker:
            await self._drain()

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while True:
                while queue:
                    packet, size = queue.popleft()
                    self._bytes -= size
                    self._wake_reader()
                    await self._apply(packet)
                if self._closed or not self._lingers:
                    break
                self._more = trio.Event()
                with trio.move_on_after(LINGER):
                    await self._more.wait()
                self._more = None
                if not queue:
                    break
        finally:
            self._end()

    def _end(self) -> None:
        """Nothing is being applied or waits: idle again."""
        self._queue = None
        self._more = None
        self._lingers = True
        self._worker = None
        self._bytes = 0
        self._wake_reader()
        if self._idle is not None:
            self._idle.set()

    def _wake_reader(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None

    async def finish(self) -> None:
        """The connection ended: take nothing more, apply what waits, then return. Cut
        short (the close handler's bound), the worker is cancelled; a packet being applied
        in the reader is left to end as its handler promised (bounded)."""
        self._closed = True
        self._wake_reader()
        if self._queue is None:
            return
        if self._more is not None:
            self._more.set()
        try:
            if self._worker is None and not self._applying_in_reader:
                # The worker never started (the connection closed first; it never will).
                await self._drain()
            else:
                self._idle = trio.Event()
                await self._idle.wait()
                if self._queue and self._worker is None:
                    # What waited behind a packet applied in the reader (apply_or_put).
                    await self._drain()
        finally:
            if self._worker is not None:
                self._worker.cancel()
