"""The shapes of the server's handlers, so that ``mypy --strict`` rejects a wrong one.

Every handler is a coroutine function taking the :class:`~minidiscord.sockets.Socket`
first. The reserved events have fixed shapes: ``connect(socket, auth)``,
``disconnect(socket, reason)`` and ``disconnecting(socket, reason)``, ``error(socket,
error)``; any other event's handler takes the client's arguments after the socket, and what
it returns is the acknowledgement when the client asked for one. The registration
functions (``on``) are overloaded on the event's name, and their decorator form hands the
handler back unchanged (its own type, not these aliases); a namespace's and a socket's
``on`` share one overload set, :class:`OnEvent`.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, Protocol, TypeAlias, TypeVar, overload

if TYPE_CHECKING:
    from .socket import Socket

EventHandler: TypeAlias = Callable[Concatenate["Socket", ...], Awaitable[Any]]
"""``async def handler(socket, *args)``: an event from the client; what it returns is the
acknowledgement when the client asked for one."""

ConnectHandler: TypeAlias = Callable[["Socket", dict[str, Any] | None], Awaitable[Any]]
"""``async def connect(socket, auth)``: raise :class:`~minidiscord.sockets.ConnectionRefused`
to refuse the client; ``auth`` is the client's auth payload (None without one)."""

DisconnectHandler: TypeAlias = Callable[["Socket", str], Awaitable[Any]]
"""``async def disconnect(socket, reason)`` (and ``disconnecting``): the socket left its
namespace; ``reason`` is the reference server's word for why."""

ErrorHandler: TypeAlias = Callable[["Socket", Exception], Awaitable[Any]]
"""``async def error(socket, error)``: what a packet middleware raised to stop an event."""

E = TypeVar("E", bound=EventHandler)
C = TypeVar("C", bound=ConnectHandler)
D = TypeVar("D", bound=DisconnectHandler)
R = TypeVar("R", bound=ErrorHandler)


class OnEvent(Protocol):
    """The type of ``on`` of a :class:`~minidiscord.sockets.Namespace` and of a
    :class:`~minidiscord.sockets.Socket`: ``@on(event)`` registers the decorated handler
    and hands it back with its own type, checked against the event's shape."""

    @overload
    def __call__(self, event: Literal["connect"]) -> Callable[[C], C]: ...

    @overload
    def __call__(self, event: Literal["disconnect", "disconnecting"]) -> Callable[[D], D]: ...

    @overload
    def __call__(self, event: Literal["error"]) -> Callable[[R], R]: ...

    @overload
    def __call__(self, event: str) -> Callable[[E], E]: ...
