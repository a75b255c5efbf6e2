"""Catch-all listeners: a socket's observers of every event it receives or is sent.

As in the reference server, a listener is called with ``(event, *args)``: incoming ones for
each event the client sends (before the packet middlewares and the handler), outgoing ones
for each event sent to this client, by ``socket.emit`` and by broadcasts alike; acks are
events of neither kind (and, unlike the reference's, an incoming listener gets no ack
function: here the handler's return value is the ack). Listeners are plain functions,
called inline: an outgoing one runs inside ``emit``, which never waits, so an observer
that has to await starts a task (``socket.start_soon``) or is a packet middleware
(``socket.use``) instead.

A broadcast only asks about outgoing listeners when some socket of the namespace has one
(``Namespace.watching_outgoing``), so fan-out costs nothing more without them; the adapter
that delivers it asks (``InMemoryAdapter.broadcast`` and ``broadcast_with_ack``), as the
reference's in-memory adapter does.
"""

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Concatenate

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

AnyListener = Callable[Concatenate[str, ...], None]
"""A catch-all listener: a plain function ``listener(event, *args)`` returning None (called
inline, never awaited: a coroutine function is the wrong shape)."""


class CatchAll:
    """The catch-all half of :class:`~minidiscord.sockets.Socket` (the reference's
    ``onAny``, ``prependAny``, ``offAny``, ``listenersAny`` and their ``Outgoing`` twins)."""

    # Most sockets never get a listener: no list is made for them.
    _any_incoming: list[AnyListener] | None = None
    _any_outgoing: list[AnyListener] | None = None

    def on_any(self, listener: AnyListener) -> AnyListener:
        """Call ``listener(event, *args)`` for every event the client sends, after the
        listeners already added. Returns the listener, so it also works as a decorator."""
        if self._any_incoming is None:
            self._any_incoming = []
        self._any_incoming.append(listener)
        return listener

    def prepend_any(self, listener: AnyListener) -> AnyListener:
        """Like :meth:`on_any`, but before the listeners already added."""
        if self._any_incoming is None:
            self._any_incoming = []
        self._any_incoming.insert(0, listener)
        return listener

    def off_any(self, listener: AnyListener | None = None) -> None:
        """Remove ``listener`` (its first registration), or every incoming listener."""
        self._any_incoming = _without(self._any_incoming, listener)

    def listeners_any(self) -> list[AnyListener]:
        """The incoming listeners, in calling order (a copy)."""
        return list(self._any_incoming or ())

    def on_any_outgoing(self, listener: AnyListener) -> AnyListener:
        """Call ``listener(event, *args)`` for every event sent to this client (emits and
        broadcasts; not acks), after the listeners already added."""
        if self._any_outgoing is None:
            self._any_outgoing = []
        self._any_outgoing.append(listener)
        self._outgoing_changed()
        return listener

    def prepend_any_outgoing(self, listener: AnyListener) -> AnyListener:
        """Like :meth:`on_any_outgoing`, but before the listeners already added."""
        if self._any_outgoing is None:
            self._any_outgoing = []
        self._any_outgoing.insert(0, listener)
        self._outgoing_changed()
        return listener

    def off_any_outgoing(self, listener: AnyListener | None = None) -> None:
        """Remove ``listener`` (its first registration), or every outgoing listener."""
        self._any_outgoing = _without(self._any_outgoing, listener)
        self._outgoing_changed()

    def listeners_any_outgoing(self) -> list[AnyListener]:
        """The outgoing listeners, in calling order (a copy)."""
        return list(self._any_outgoing or ())

    def _outgoing_changed(self) -> None:
        """Keep the namespace's set of watching sockets true (Socket knows its namespace)."""

    def notify_incoming(self, event: str, args: Iterable[Any]) -> None:
        """Tell the incoming listeners about an event the client sent."""
        if self._any_incoming:
            _call(self._any_incoming, event, args)

    def notify_outgoing(self, event: str, args: Iterable[Any]) -> None:
        """Tell the outgoing listeners about an event sent to the client."""
        if self._any_outgoing:
            _call(self._any_outgoing, event, args)


def notify_recipients(
    recipients: Iterable["Socket"], watching: set["Socket"], event: str, args: Iterable[Any]
) -> list["Socket"]:
    """For a broadcast while some sockets watch what they are sent: tell the watching
    recipients, and return the recipients (read once, so the caller can deliver to them)."""
    selected = list(recipients)
    for socket in selected:
        if socket in watching:
            socket.notify_outgoing(event, args)
    return selected


def _without(
    listeners: list[AnyListener] | None, listener: AnyListener | None
) -> list[AnyListener] | None:
    if listener is None or not listeners:
        return None
    if listener in listeners:
        listeners.remove(listener)
    return listeners or None


def _call(listeners: list[AnyListener], event: str, args: Iterable[Any]) -> None:
    # A copy: a listener may remove itself (or another) while they are being called.
    for listener in list(listeners):
        try:
            listener(event, *args)
        except Exception:
            # An observer's bug must not cost the event or the emit it watches.
            logger.exception("catch-all listener %r failed on %r", listener, event)
