"""hypercorn's HTTP/2 streams counted per client address, under the per-address connection cap.

The per-address cap (``--ip-max-connections``, :mod:`.frontend.connlimits`) counts TCP
connections, and bounds what one address can hold because each HTTP/1.1 connection carries
one request at a time, which the read timeout ends if it stalls. An HTTP/2 connection
carries up to ``h2_max_concurrent_streams`` (100) requests at once, and any frame its client
sends (a PING) keeps hypercorn's read timeout off all of them: a request whose body never
comes (``POST /api/login`` with no DATA) holds its app task for as long as the client likes.
Measured: 20 connections of 100 such streams held 2,000 app tasks and 22 MB; the cap's
2,000 connections would hold 200,000 tasks and some 2 GB, from one address, for ever.

Each stream a client opens now counts against its address like a connection: past the cap
a new stream is refused with RST_STREAM (REFUSED_STREAM, which tells the client it may
retry) before the app sees it, so one address has as many requests in flight over HTTP/2 as
over HTTP/1.1. A connection's only stream is never refused (the connection was admitted
under the cap for it), and a trusted proxy's streams are not counted, as its connections
are not. A stream stops counting when it closes (answered, reset by the client, or its
connection gone), so streams a client opens and resets at once (rapid reset) take nothing
for long; hypercorn itself ends such a connection after ``keep_alive_max_requests``.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import h2.errors
import h2.events
from hypercorn.events import Closed
from hypercorn.protocol.h2 import H2Protocol

from .hostfixes import connection_limits_of

_INSTALLED_MARK = "_minidiscord_stream_limits"
# On an H2Protocol: stream id -> the address key it counts under, for each counted stream.
_COUNTED_ATTRIBUTE = "_minidiscord_counted_streams"


def install() -> None:
    """Count hypercorn's HTTP/2 streams per client address, refusing those over the cap (once
    per process)."""
    handle_events: Callable[[H2Protocol, list[h2.events.Event]], Awaitable[None]] = (
        H2Protocol._handle_events
    )
    if getattr(handle_events, _INSTALLED_MARK, False):
        return

    @functools.wraps(handle_events)
    async def handle_events_within_limits(self: H2Protocol, events: list[h2.events.Event]) -> None:
        limits = connection_limits_of(self)
        key = None if limits is None or self.client is None else limits.stream_key(self.client[0])
        if limits is None or key is None:
            await handle_events(self, events)
            return
        counted: dict[int, str] = self.__dict__.setdefault(_COUNTED_ATTRIBUTE, {})
        refused: set[int] = set()
        kept: list[h2.events.Event] = []
        # The connection's streams once those received so far are created (the ones this
        # batch resets are still counted here: a refusal errs towards the flood).
        streams = len(self.streams)
        for event in events:
            if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                if limits.open_stream(key):
                    counted[event.stream_id] = key
                elif streams > 0:
                    refused.add(event.stream_id)
                    self.connection.reset_stream(
                        event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM
                    )
                    continue
                streams += 1
            elif getattr(event, "stream_id", None) in refused:
                # Its DATA, its end, its reset: hypercorn would look for a stream it never
                # made (h2 drops what comes for the stream in later reads). Its DATA gives
                # the connection's window back, as h2 does for those later reads.
                if isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                    self.connection.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id
                    )
                continue
            kept.append(event)
        await handle_events(self, kept)

    close_stream: Callable[[H2Protocol, int], Awaitable[None]] = H2Protocol._close_stream

    @functools.wraps(close_stream)
    async def close_stream_uncounted(self: H2Protocol, stream_id: int) -> None:
        _release(self, [stream_id])
        await close_stream(self, stream_id)

    handle: Callable[[H2Protocol, Any], Awaitable[None]] = H2Protocol.handle

    @functools.wraps(handle)
    async def handle_releasing_at_close(self: H2Protocol, event: Any) -> None:
        try:
            await handle(self, event)
        finally:
            if isinstance(event, Closed):
                # Streams counted but never made (hypercorn refused them at shutdown).
                _release(self, list(self.__dict__.get(_COUNTED_ATTRIBUTE, ())))

    setattr(handle_events_within_limits, _INSTALLED_MARK, True)
    H2Protocol._handle_events = handle_events_within_limits  # type: ignore[method-assign]
    H2Protocol._close_stream = close_stream_uncounted  # type: ignore[method-assign]
    H2Protocol.handle = handle_releasing_at_close  # type: ignore[method-assign]


def _release(protocol: H2Protocol, stream_ids: list[int]) -> None:
    counted: dict[int, str] | None = protocol.__dict__.get(_COUNTED_ATTRIBUTE)
    if not counted:
        return
    limits = connection_limits_of(protocol)
    for stream_id in stream_ids:
        key = counted.pop(stream_id, None)
        if key is not None and limits is not None:
            limits.close_stream(key)
