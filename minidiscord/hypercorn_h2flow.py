"""hypercorn's HTTP/2 streams hold the app's writes back while the client's window is shut.

hypercorn's ``H2Protocol`` puts what the app writes to a stream into the stream's buffer;
its sending task takes from it as the client's flow-control window allows. A write that
took the buffer over its high-water mark (two frames' worth) waited for one release by
that task, and the task released it whenever it took less than the low-water mark, nothing
included: with the window shut it takes nothing, and released every write (a release left
over from an earlier take let the next write through at once as well). A client that never
granted window (no WINDOW_UPDATE) had every byte the app wrote to it buffered in hypercorn
for as long as the connection lasted; the engine's writes never waited, so the
slow-consumer rule never saw it fall behind (a stalled WebSocket took a test's 2 MB of
broadcasts, and would have taken every broadcast after).

A write now waits until the buffer is back under the high-water mark: a stream holds about
that and the app's last write, and a write to a client that takes nothing waits until the
engine cuts it off (which ends the connection: :mod:`.hypercorn_cancels`). Nothing changes
for a client that grants window, however slowly.
"""

import functools
from collections.abc import Awaitable, Callable

from hypercorn.protocol.h2 import BUFFER_HIGH_WATER, BufferCompleteError, StreamBuffer

_INSTALLED_MARK = "_minidiscord_flow"


def install() -> None:
    """Make a write to a hypercorn HTTP/2 stream wait while the stream's buffer is full (once
    per process)."""
    push: Callable[[StreamBuffer, bytes], Awaitable[None]] = StreamBuffer.push
    if getattr(push, _INSTALLED_MARK, False):
        return

    @functools.wraps(push)
    async def push_waiting_while_full(self: StreamBuffer, data: bytes) -> None:
        # hypercorn's own, but for the loop: a release is a cue to look again, not leave.
        if self._complete:
            raise BufferCompleteError()
        self.buffer.extend(data)
        await self._is_empty.clear()
        # Emptied by close() too (the connection ended), which also releases.
        while len(self.buffer) >= BUFFER_HIGH_WATER:
            await self._paused.wait()
            await self._paused.clear()

    setattr(push_waiting_while_full, _INSTALLED_MARK, True)
    StreamBuffer.push = push_waiting_while_full  # type: ignore[method-assign]
