"""The seam through which a worker process gives back a connection that is not its own.

Under ``--workers`` the parent routes each new connection by its first request; a kept-alive
connection may later carry a request for a session of another worker (browsers share
connections between tabs). A connection whose next request is not for this worker raises
:class:`HandBack` before any byte of that request is parsed, and the server gives the
connection, with those bytes, back to the parent, which routes it again as if newly
accepted. The client sees nothing: no redirect, no closed connection, no failed request.
That was chosen over answering such a request with ``Connection: close``, which would fail
it (a long-poll client would count it as a transport error and reconnect).
"""

from typing import Protocol

import trio


class HandBack(Exception):
    """The connection's next request belongs to another worker; ``received`` holds every
    byte read from the client and not yet used (that request, and any after it)."""

    def __init__(self, received: bytes) -> None:
        super().__init__("the next request is for another worker")
        self.received = received


class StickyRouting(Protocol):
    """What a worker's front end asks about requests after a connection's first one."""

    def owns(self, request_line: bytes) -> bool:
        """Whether the request with this first line (without its line end) is this
        worker's to serve."""
        ...

    async def hand_back(self, stream: trio.SocketStream, received: bytes) -> None:
        """Give the connection, with the bytes already read from it, to the parent; the
        caller then closes its own descriptor."""
        ...


def first_line(buffer: bytes, limit: int) -> bytes | None:
    """The request line at the start of ``buffer`` (without its line end); None while it
    is not complete yet. A buffer of ``limit`` bytes without a line end gives all of it
    (no request line can be that long: whoever parses the request refuses it)."""
    end = buffer.find(b"\n", 0, limit)
    if end < 0:
        return buffer if len(buffer) >= limit else None
    return buffer[:end].rstrip(b"\r")
