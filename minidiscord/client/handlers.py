"""The shapes of the client's handlers, so that ``mypy --strict`` rejects a wrong one.

A handler may be a plain function (run in the reader, in order) or a coroutine function
(run as a task); it takes the event's arguments, with no socket first. The client's own
events have fixed shapes: ``connect()``, ``disconnect(reason)``, ``connect_error(error)``,
and so have the connection's (``Client.on_manager``): ``reconnect_attempt(attempt)``,
``reconnect(attempt)``, ``reconnect_error(error)``, ``reconnect_failed()``.
Catch-all listeners are plain functions ``listener(event, *args)``, called inline.
"""

from collections.abc import Callable
from typing import Any, Concatenate, TypeAlias, TypeVar

from .errors import ConnectError

Handler: TypeAlias = Callable[..., Any]
"""``handler(*args)`` or ``async def handler(*args)``: an event from the server; what it
returns is the acknowledgement when the server asked for one."""

ConnectListener: TypeAlias = Callable[[], object]
"""``handler()`` (or ``async``): the socket joined its namespace."""

DisconnectListener: TypeAlias = Callable[[str], object]
"""``handler(reason)`` (or ``async``): the socket lost its namespace, and why."""

ConnectErrorListener: TypeAlias = Callable[[ConnectError], object]
"""``handler(error)`` (or ``async``): the server refused the socket, or connecting failed."""

AttemptListener: TypeAlias = Callable[[int], object]
"""``handler(attempt)`` (or ``async``): ``reconnect_attempt`` and ``reconnect``, with the
reconnection attempt's number (from 1)."""

AnyHandler: TypeAlias = Callable[Concatenate[str, ...], None]
"""A catch-all listener: a plain function ``listener(event, *args)`` returning None
(called inline, never awaited: a coroutine function is the wrong shape)."""

H = TypeVar("H", bound=Handler)
CL = TypeVar("CL", bound=ConnectListener)
DL = TypeVar("DL", bound=DisconnectListener)
EL = TypeVar("EL", bound=ConnectErrorListener)
AL = TypeVar("AL", bound=AttemptListener)
