"""Whether the client asked to acknowledge the event being handled.

A handler's return value becomes the ack only when the client asked for one (its event
packet carried an ack id). A client that did not ask never reads that answer, so a
handler that has something to tell it must say it some other way: it asks here.
"""

from contextvars import ContextVar, Token

# Per task: a handler's own awaits never see another event's answer.
_requested: ContextVar[bool] = ContextVar("ack_requested", default=False)


def ack_requested() -> bool:
    """True while handling an event whose client asked for an ack; False otherwise,
    outside any handler included."""
    return _requested.get()


def event_begins(ack_requested: bool) -> Token[bool]:
    """One event's handler starts (the Socket.IO client dispatch calls this, then
    :func:`event_ends` with what it returned once the handler is done; a pair of calls
    rather than a context manager, which costs a generator per event)."""
    return _requested.set(ack_requested)


def event_ends(token: Token[bool]) -> None:
    _requested.reset(token)
