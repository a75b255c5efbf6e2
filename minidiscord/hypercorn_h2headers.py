"""hypercorn's HTTP/2 connections hold at most one header list's worth of an unfinished header
block.

A request's headers come in a HEADERS frame and, until one carries END_HEADERS, CONTINUATION
frames; h2 keeps each frame until the block ends (it can only be decoded whole) and refuses a
block of more than 64 frames. A frame may be as large as the server's maximum, 16 KiB, so one
connection held 1 MiB of a block that never ended (CVE-2024-27316's kind of flood), for as
long as its client dripped the next frame's bytes: each read restarts hypercorn's read timer.
An HTTP/1.1 head that never ends holds 16 KiB (h11's limit), so one address's connections
held some 64 times as much over HTTP/2.

A block's encoded bytes are now bounded by what hypercorn takes of a decoded header list
(``h2_max_header_list_size``, 64 KiB: HPACK encodes a header list in fewer bytes than it
takes decoded, but for Huffman codes longer than a byte, which real headers rarely use):
past it the connection ends with GOAWAY (ENHANCE_YOUR_CALM), as a protocol error would end
it, since a block left undecoded leaves the connection's HPACK state behind.
"""

import functools
from collections.abc import Callable
from typing import Any

from h2.exceptions import DenialOfServiceError
from h2.frame_buffer import FrameBuffer
from hypercorn.protocol.h2 import H2Protocol

_INSTALLED_MARK = "_minidiscord_header_blocks"


class BoundedFrameBuffer(FrameBuffer):
    """h2's buffer of a connection's incoming frames, ending the connection when an unfinished
    header block holds more than ``max_block_size`` bytes."""

    def __init__(self, max_block_size: int) -> None:
        super().__init__(server=True)
        self.max_block_size = max_block_size

    def _update_header_buffer(self, f: Any) -> Any:
        frame = super()._update_header_buffer(f)
        held = sum(len(part.data) for part in self._headers_buffer)
        if held > self.max_block_size:
            # Raised from h2's reading, it sends the GOAWAY; hypercorn then closes.
            msg = f"Unfinished header block of {held} bytes."
            raise DenialOfServiceError(msg)
        return frame


def install() -> None:
    """Bound the unfinished header blocks of hypercorn's HTTP/2 connections (once per
    process)."""
    init: Callable[..., None] = H2Protocol.__init__
    if getattr(init, _INSTALLED_MARK, False):
        return

    @functools.wraps(init)
    def init_bounded(self: H2Protocol, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # Nothing has been received yet: the swap loses no state.
        self.connection.incoming_buffer = BoundedFrameBuffer(self.config.h2_max_header_list_size)

    setattr(init_bounded, _INSTALLED_MARK, True)
    H2Protocol.__init__ = init_bounded  # type: ignore[method-assign]
