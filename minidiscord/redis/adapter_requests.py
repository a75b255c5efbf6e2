"""Requests a server of the Redis adapter sends the others, and their answers.

A request carries an id and the asking server's id; every other server answers on the
asking server's own stream with that request id, and the answer goes to the handler kept
here under it. A handler is kept until its request is closed or its deadline passes, so
an answer that comes late (or never) leaves nothing behind.
"""

import heapq
import secrets
from collections.abc import Callable
from typing import Any

import trio

from .adapter_codec import Message

Handler = Callable[[Message], None]


class Requests:
    """The requests of one server still waiting for answers, by id."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        # (deadline, id), so expired requests are forgotten without a task per request.
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._handlers)

    def open(self, handler: Handler, timeout: float) -> str:
        """Keep ``handler`` for the answers to a new request, for ``timeout`` seconds at
        most; the request's id."""
        now = trio.current_time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            self._handlers.pop(heapq.heappop(deadlines)[1], None)
        request = secrets.token_hex(8)
        self._handlers[request] = handler
        heapq.heappush(deadlines, (now + timeout, request))
        return request

    def close(self, request: str) -> None:
        """Stop listening for answers to ``request``."""
        self._handlers.pop(request, None)

    def answer(self, message: Message) -> None:
        """An answer arrived: to its request's handler (an unknown one is dropped)."""
        request = message.body.get("request")
        handler = self._handlers.get(request) if isinstance(request, str) else None
        if handler is not None:
            handler(message)


class Gathering:
    """The answers of the other servers to one request: complete once ``servers`` have
    answered, or failed when the request could not be sent."""

    def __init__(self, servers: int) -> None:
        self.servers = servers
        self.bodies: list[dict[str, Any]] = []
        self.failure: str | None = None
        self.done = trio.Event()
        if servers <= 0:
            self.done.set()

    def add(self, message: Message) -> None:
        if not self.done.is_set():
            self.bodies.append(message.body)
            if len(self.bodies) >= self.servers:
                self.done.set()

    def sent(self, entry_id: str | None) -> None:
        """The writer's report: None when Redis did not take the request."""
        if entry_id is None and not self.done.is_set():
            self.failure = "redis did not take the request"
            self.done.set()

    @property
    def complete(self) -> bool:
        return self.failure is None and len(self.bodies) >= self.servers

    def shortfall(self, what: str, timeout: float) -> str:
        """Why it is incomplete, in words naming how many servers did not answer."""
        missing = self.servers - len(self.bodies)
        if self.failure is not None:
            return f"{what}: {self.failure} ({missing} of {self.servers} servers not reached)"
        return f"{what}: {missing} of {self.servers} servers did not answer within {timeout:g} s"
