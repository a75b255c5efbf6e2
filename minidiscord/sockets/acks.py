"""Whether the client asked to acknowledge the event being handled.

A handler's return value becomes the ack only when the client asked for one (its event
packet carried an ack id). A client that did not ask never reads that answer, so a
handler that has something to tell it must say it some other way: it asks here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Per task: a handler's own awaits never see another event's answer.
_requested: ContextVar[bool] = ContextVar("ack_requested", default=False)


def ack_requested() -> bool:
    """True while handling an event whose client asked for an ack; False otherwise,
    outside any handler included."""
    return _requested.get()


@contextmanager
def handling_event(ack_requested: bool) -> Iterator[None]:
    """The scope of one event's handler (entered by the Socket.IO client dispatch)."""
    token = _requested.set(ack_requested)
    try:
        yield
    finally:
        _requested.reset(token)
