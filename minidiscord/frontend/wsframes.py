"""Encoding of the server's WebSocket data frames (RFC 6455 section 5.2), sans I/O.

wsproto encodes frames too, but through a state machine per message; a server's frames
are unmasked and unfragmented, so a header and the payload are all there is, and the
same header serves every recipient of a broadcast.
"""

import struct

TEXT = 0x1
BINARY = 0x2
_FINAL = 0x80


def frame_header(opcode: int, length: int) -> bytes:
    """The header of one final, unmasked frame of ``length`` payload bytes."""
    first = _FINAL | opcode
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def data_frame(payload: str | bytes) -> bytes:
    """A whole text (for ``str``) or binary (for ``bytes``) message as one frame."""
    if isinstance(payload, str):
        data = payload.encode()
        return frame_header(TEXT, len(data)) + data
    return frame_header(BINARY, len(payload)) + payload


class FrameCache:
    """Remembers the last frame encoded: a broadcast hands every writer the same object.

    Writers of one broadcast run one after another, so a single entry is hit by all but
    the first; it costs one comparison when it misses.
    """

    __slots__ = ("_encoded", "_payload")

    def __init__(self) -> None:
        self._payload: str | bytes | None = None
        self._encoded = b""

    def encode(self, payload: str | bytes) -> bytes:
        if payload is not self._payload:
            self._encoded = data_frame(payload)
            self._payload = payload
        return self._encoded
