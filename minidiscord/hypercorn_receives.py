"""hypercorn's WebSocket messages handed to the app in the connection's own task.

For each WebSocket hypercorn (trio worker) opens a memory channel of
``max_app_queue_size`` messages: its connection task puts every message the client sends
into it, and a task of the app takes them out. That is a task woken per message, and per
connection the channel's four objects and a task of the app that does nothing but read:
about 4 KiB of a chat user's (docs/benchmarks.md, "Memory per chat user on hypercorn").

:class:`Mailbox` takes the channel's place for WebSockets and offers the app
:data:`~minidiscord.asgi_io.RECEIVE_HANDLER`. Until the app hands it a handler it queues as
the channel did, bounded alike (hypercorn's task waits for room); after that, hypercorn's
task awaits the handler for each message itself (with a checkpoint every ``YIELD_EVERY``,
as one read can hold thousands). Once the app has ended, what arrives is dropped: hypercorn's
task never waits on an app that will not read again. Only a WebSocket with a connection of
its own (HTTP/1.1) is offered the hand-over: under HTTP/2 the connection's one reading task
serves every stream, and one stream's handler waiting would hold up all the others.
"""

import functools
from collections.abc import Awaitable, Callable
from enum import Enum, auto
from typing import Any

import trio

from .asgi_io import RECEIVE_HANDLER, Message, ReceiveHandler
from .transitions import TransitionTable

# What receive answers once the app's end closed the mailbox (nobody should ask by then).
_GONE: Message = {"type": "websocket.disconnect", "code": 1006}
# Messages handed over between two checkpoints at most: one read can hold thousands of small
# messages, and others must run between them (as the native front end's receive does).
YIELD_EVERY = 16


class MailboxState(Enum):
    QUEUEING = auto()  # messages wait for the app's receive
    HANDING = auto()  # each message goes to the app's handler, in hypercorn's task
    CLOSED = auto()  # the app has ended: messages are dropped


# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_HANDING = MailboxState.HANDING
_CLOSED = MailboxState.CLOSED

MAILBOX_TRANSITIONS = TransitionTable(
    {
        MailboxState.QUEUEING: {MailboxState.HANDING, MailboxState.CLOSED},
        MailboxState.HANDING: {MailboxState.QUEUEING, MailboxState.CLOSED},
        MailboxState.CLOSED: set(),
    }
)


class Mailbox:
    """One WebSocket's messages on their way to the app (see the module's docstring).

    hypercorn's connection task puts what it reads; a task whose write found the connection
    broken puts the disconnect (the app's own, a ping's, under HTTP/2 any stream's), so
    several may wait for room at once, and handler calls may overlap. One task of the app
    at a time receives (another gets ``BusyResourceError``, as from a trio stream).
    """

    __slots__ = ("_handler", "_limit", "_putters", "_queue", "_receiver", "_unyielded", "state")

    def __init__(self, limit: int) -> None:
        # hypercorn's channel of 0 would hand over each message; one waiting is the same.
        self._limit = max(1, limit)
        # A list, not a deque: it holds a few messages at most, and an empty deque is 600 B.
        self._queue: list[Message] = []
        self._handler: ReceiveHandler | None = None
        self._receiver: trio.lowlevel.Task | None = None
        # Tasks waiting for room, in arrival order (None while there are none).
        self._putters: list[trio.lowlevel.Task] | None = None
        self._unyielded = 0
        self.state = MailboxState.QUEUEING

    def _move(self, state: MailboxState) -> None:
        self.state = MAILBOX_TRANSITIONS.check("mailbox", self.state, state)

    async def put(self, message: Message) -> None:
        """hypercorn's ``app_put``: hand ``message`` to the app's handler, or queue it for
        its receive (waiting while the queue is full)."""
        while True:
            state = self.state
            if state is _HANDING:
                assert self._handler is not None
                await self._handler(message)
                self._unyielded += 1
                if self._unyielded >= YIELD_EVERY:
                    self._unyielded = 0
                    await trio.lowlevel.checkpoint()
                return
            if state is _CLOSED:
                return
            if len(self._queue) < self._limit:
                self._queue.append(message)
                self._reschedule_receiver()
                return
            task = trio.lowlevel.current_task()
            if self._putters is None:
                self._putters = []
            self._putters.append(task)
            await trio.lowlevel.wait_task_rescheduled(functools.partial(self._abort_put, task))

    async def receive(self) -> Message:
        """The app's ASGI ``receive``: the next message queued, waiting for one."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._queue:
            message = self._take()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return message
        while not self._queue:
            if self.state is MailboxState.CLOSED:
                return _GONE
            if self._receiver is not None:
                raise trio.BusyResourceError("another task is receiving on this WebSocket")
            self._receiver = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort_receive)
        return self._take()

    async def hand_to(self, handler: ReceiveHandler | None) -> None:
        """RECEIVE_HANDLER's ``hand_to``: what is queued goes to ``handler`` now, in this
        task, and every later message in the putting task; None queues them for receive
        again (a handler call in progress goes on)."""
        if handler is None:
            self._move(MailboxState.QUEUEING)
            self._handler = None
            return
        while self._queue:
            await handler(self._take())
        # Nothing is queued and no checkpoint comes before the move: no message can pass
        # one still queued. Tasks still waiting for room hand theirs over themselves.
        self._move(MailboxState.HANDING)
        self._handler = handler
        self._reschedule_putters()

    def close(self) -> None:
        """The app has ended: drop what is queued and whatever comes."""
        if self.state is MailboxState.CLOSED:
            return
        self._move(MailboxState.CLOSED)
        self._queue.clear()
        self._handler = None
        self._reschedule_receiver()
        self._reschedule_putters()

    def offer(self, scope: dict[str, Any]) -> None:
        """Offer :data:`RECEIVE_HANDLER` in ``scope``, whose extensions are its own."""
        scope.setdefault("extensions", {})[RECEIVE_HANDLER] = {"hand_to": self.hand_to}

    def _take(self) -> Message:
        message = self._queue.pop(0)
        self._reschedule_putter()
        return message

    def _reschedule_receiver(self) -> None:
        task, self._receiver = self._receiver, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def _reschedule_putter(self) -> None:
        """The first task waiting for room tries again (it finds room, or the hand-over)."""
        if self._putters:
            task = self._putters.pop(0)
            if not self._putters:
                self._putters = None
            trio.lowlevel.reschedule(task)

    def _reschedule_putters(self) -> None:
        putters, self._putters = self._putters or [], None
        for task in putters:
            trio.lowlevel.reschedule(task)

    def _abort_put(self, task: trio.lowlevel.Task, _: Any) -> trio.lowlevel.Abort:
        if self._putters is not None:
            self._putters.remove(task)
            if not self._putters:
                self._putters = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _abort_receive(self, _: Any) -> trio.lowlevel.Abort:
        self._receiver = None
        return trio.lowlevel.Abort.SUCCEEDED


def spawn_websocket_app(
    task_group: Any,
    handle: Callable[..., Awaitable[None]],
    app: Any,
    config: Any,
    scope: dict[str, Any],
    send: Any,
    *,
    hand_over: bool,
) -> Callable[[Message], Awaitable[None]]:
    """What hypercorn's ``TaskGroup.spawn_app`` does for a WebSocket, with a
    :class:`Mailbox` for its channel: starts the app (through hypercorn's ``handle``, which
    logs its errors and ends with ``send(None)``, where :func:`close_mailbox` belongs) and
    returns the app's ``app_put``. With ``hand_over`` (a WebSocket with its own connection:
    under HTTP/2 one stream's handler would hold up every stream's reading) it offers
    :data:`RECEIVE_HANDLER`."""
    mailbox = Mailbox(config.max_app_queue_size)
    if hand_over:
        mailbox.offer(scope)
    task_group.spawn(
        handle,
        app,
        config,
        scope,
        mailbox.receive,
        send,
        trio.to_thread.run_sync,
        trio.from_thread.run,
    )
    return mailbox.put


def close_mailbox(app_put: object) -> None:
    """The app behind ``app_put`` (a WSStream's) has ended: close its mailbox, if it has one."""
    mailbox = getattr(app_put, "__self__", None)
    if isinstance(mailbox, Mailbox):
        mailbox.close()
