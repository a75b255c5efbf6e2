"""The shapes of the client's handlers, so that ``mypy --strict`` rejects a wrong one.

A handler may be a plain function (run in the reader, in order) or a coroutine function
(run as a task); it takes the event's arguments, with no socket first. The client's own
events have fixed shapes: ``connect()``, ``disconnect(reason)``, ``connect_error(error)``,
and so have the connection's (``Client.on_manager``): ``open()``, ``close(reason)``,
``ping()``, ``error(error)``, ``packet(packet)``, ``reconnect_attempt(attempt)``,
``reconnect(attempt)``, ``reconnect_error(error)``, ``reconnect_failed()``.
Catch-all listeners are plain functions ``listener(event, *args)``, called inline.

``on`` and ``on_manager`` are typed once, here (:class:`OnEvent`, :class:`OnManagerEvent`),
for the namespace's socket and the client alike.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, Protocol, TypeAlias, TypeVar, overload

from ..protocol.socketio import Packet
from .errors import ConnectError

if TYPE_CHECKING:
    from typing_extensions import deprecated
else:

    def deprecated(message: str) -> Callable[[Any], Any]:
        # Only type checkers read it; at run time the overloads it marks are never called.
        return lambda function: function


Handler: TypeAlias = Callable[..., Any]
"""``handler(*args)`` or ``async def handler(*args)``: an event from the server; what it
returns is the acknowledgement when the server asked for one."""

ConnectListener: TypeAlias = Callable[[], object]
"""``handler()`` (or ``async``): the socket joined its namespace (and ``open``, ``ping``,
``reconnect_failed`` of the connection)."""

DisconnectListener: TypeAlias = Callable[[str], object]
"""``handler(reason)`` (or ``async``): the socket lost its namespace, and why (and the
connection's ``close``)."""

ConnectErrorListener: TypeAlias = Callable[[ConnectError], object]
"""``handler(error)`` (or ``async``): the server refused the socket, or connecting failed
(and the connection's ``error`` and ``reconnect_error``)."""

AttemptListener: TypeAlias = Callable[[int], object]
"""``handler(attempt)`` (or ``async``): ``reconnect_attempt`` and ``reconnect``, with the
reconnection attempt's number (from 1)."""

PacketListener: TypeAlias = Callable[[Packet], object]
"""``handler(packet)`` (or ``async``): the connection's ``packet``, each Socket.IO packet
received, whatever its namespace."""

AnyHandler: TypeAlias = Callable[Concatenate[str, ...], None]
"""A catch-all listener: a plain function ``listener(event, *args)`` returning None
(called inline, never awaited: a coroutine function is the wrong shape)."""

# The events of the connection itself (socket.io-client's Manager emits them).
MANAGER_EVENTS = frozenset(
    {
        "open",
        "close",
        "ping",
        "error",
        "packet",
        "reconnect_attempt",
        "reconnect",
        "reconnect_error",
        "reconnect_failed",
    }
)

H = TypeVar("H", bound=Handler)
CL = TypeVar("CL", bound=ConnectListener)
DL = TypeVar("DL", bound=DisconnectListener)
EL = TypeVar("EL", bound=ConnectErrorListener)
AL = TypeVar("AL", bound=AttemptListener)
PL = TypeVar("PL", bound=PacketListener)


class OnEvent(Protocol):
    """The type of ``on`` (:meth:`ClientSocket.on <minidiscord.client.ClientSocket.on>` and
    ``Client.on``): ``on(event)`` as a decorator or ``on(event, handler)``, either handing
    the handler back with its own type.

    A handler of the wrong shape for ``connect``, ``disconnect`` or ``connect_error`` is an
    error in both forms. The decorator's is an ordinary type error; the direct form's is
    mypy's ``deprecated`` error code (enable it: ``enable_error_code = ["deprecated"]``),
    because any function is a valid handler of *some* event named by a ``str``, and only a
    deprecated overload lets a type checker flag a call that still matches one.
    """

    @overload
    def __call__(self, event: Literal["connect"]) -> Callable[[CL], CL]: ...

    @overload
    def __call__(self, event: Literal["connect"], handler: CL) -> CL: ...

    @overload
    def __call__(self, event: Literal["disconnect"]) -> Callable[[DL], DL]: ...

    @overload
    def __call__(self, event: Literal["disconnect"], handler: DL) -> DL: ...

    @overload
    def __call__(self, event: Literal["connect_error"]) -> Callable[[EL], EL]: ...

    @overload
    def __call__(self, event: Literal["connect_error"], handler: EL) -> EL: ...

    @overload
    # A literal message: type checkers read no other.
    @deprecated(
        "a handler of the wrong shape for this event: connect(), disconnect(reason: str), "
        "connect_error(error: ConnectError)"
    )
    def __call__(
        self, event: Literal["connect", "disconnect", "connect_error"], handler: Handler
    ) -> Handler: ...

    @overload
    def __call__(self, event: str) -> Callable[[H], H]: ...

    @overload
    def __call__(self, event: str, handler: H) -> H: ...


class OnManagerEvent(Protocol):
    """The type of ``Client.on_manager``: the connection's events only, each with its
    shape (no ``str`` fallback, so a wrong shape or name is an error in both forms)."""

    @overload
    def __call__(
        self, event: Literal["open", "ping", "reconnect_failed"]
    ) -> Callable[[CL], CL]: ...

    @overload
    def __call__(self, event: Literal["open", "ping", "reconnect_failed"], handler: CL) -> CL: ...

    @overload
    def __call__(self, event: Literal["close"]) -> Callable[[DL], DL]: ...

    @overload
    def __call__(self, event: Literal["close"], handler: DL) -> DL: ...

    @overload
    def __call__(self, event: Literal["error", "reconnect_error"]) -> Callable[[EL], EL]: ...

    @overload
    def __call__(self, event: Literal["error", "reconnect_error"], handler: EL) -> EL: ...

    @overload
    def __call__(self, event: Literal["packet"]) -> Callable[[PL], PL]: ...

    @overload
    def __call__(self, event: Literal["packet"], handler: PL) -> PL: ...

    @overload
    def __call__(self, event: Literal["reconnect_attempt", "reconnect"]) -> Callable[[AL], AL]: ...

    @overload
    def __call__(self, event: Literal["reconnect_attempt", "reconnect"], handler: AL) -> AL: ...
