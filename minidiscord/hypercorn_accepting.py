"""hypercorn's trio worker accepting several waiting connections per wake-up, as the native
front end does (:mod:`.frontend.accepting`).

The worker serves its listeners with ``trio.serve_listeners``, whose loop awaits
``listener.accept()`` once per connection, and trio's ``SocketListener.accept`` goes through
the scheduler after every connection it accepts. On a busy server a pass through the
scheduler is long (in a chat connect storm it holds a round of direct writes to every client
already there), so hypercorn took about one connection per pass, each pass's round carried
the `user:join` of about one new client, and every client got one write per join.

:class:`BatchedSocketListener` is trio's listener, except that after a trip through the
scheduler up to :data:`~.frontend.accepting.ACCEPT_BATCH` connections the kernel has
already queued are accepted without another; the worker makes its listeners from it
(:func:`install`). Each connection is still handled by hypercorn exactly as before.
"""

import socket
import types
from typing import Any

import trio
from hypercorn.trio import run as hypercorn_run

from .frontend.accepting import ACCEPT_BATCH


class BatchedSocketListener(trio.abc.Listener[trio.SocketStream]):
    """``trio.SocketListener``, accepting up to ``ACCEPT_BATCH`` connections per trip
    through the scheduler (errors, closing and the rest are trio's listener's)."""

    def __init__(self, socket: trio.socket.SocketType) -> None:
        self._listener = trio.SocketListener(socket)
        self.socket = socket
        # Connections returned since the last trip through the scheduler.
        self._unyielded = 0

    async def accept(self) -> trio.SocketStream:
        if self._unyielded < ACCEPT_BATCH - 1:
            conn = _accept_waiting(self.socket)
            if conn is not None:
                self._unyielded += 1
                # SocketStream sets TCP_NODELAY, as trio's accept does.
                return trio.SocketStream(trio.socket.from_stdlib_socket(conn))
        self._unyielded = 0
        return await self._listener.accept()

    async def aclose(self) -> None:
        await self._listener.aclose()


def _accept_waiting(listening: trio.socket.SocketType) -> socket.socket | None:
    """A connection the kernel has queued on ``listening``, accepted without waiting; None
    when there is none, or on any error (trio's own accept then meets it and handles it)."""
    fd = listening.fileno()
    if fd < 0:
        return None
    # A second socket object on the listening descriptor (trio keeps its own private),
    # detached again so that it never closes the descriptor.
    view = socket.socket(fileno=fd)
    try:
        view.setblocking(False)
        conn, _address = view.accept()
    except OSError:
        return None
    finally:
        view.detach()
    return conn


class _TrioForHypercorn(types.ModuleType):
    """trio as hypercorn's trio worker module sees it: its listeners are batched."""

    SocketListener = BatchedSocketListener

    def __getattr__(self, name: str) -> Any:
        return getattr(trio, name)


def install() -> None:
    """Make hypercorn's trio worker (``hypercorn.trio.run``) build its plain TCP listeners,
    and those under its TLS listeners, as :class:`BatchedSocketListener` (once per process)."""
    if not isinstance(getattr(hypercorn_run, "trio", None), _TrioForHypercorn):
        hypercorn_run.trio = _TrioForHypercorn("trio")  # type: ignore[attr-defined]
