"""Encoding of the server's WebSocket data frames (RFC 6455 section 5.2), sans I/O.

wsproto encodes frames too, but through a state machine per message; a server's frames
are unmasked and unfragmented, so a header and the payload are all there is, and the
same header serves every recipient of a broadcast.
"""

import struct
from collections.abc import Sequence

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
    """Remembers the last frame encoded, and the last run of frames encoded together: a
    broadcast hands every writer the same objects.

    Writers of one broadcast run one after another, so a single entry is hit by all but
    the first; it costs one comparison when it misses. A round of direct writes hands
    every client the same run of frames when they are in the same rooms: the run's bytes
    are joined once.
    """

    __slots__ = ("_encoded", "_payload", "_run", "_run_encoded")

    def __init__(self) -> None:
        self._payload: str | bytes | None = None
        self._encoded = b""
        self._run: list[str | bytes] = []
        self._run_encoded = b""

    def encode(self, payload: str | bytes) -> bytes:
        if payload is not self._payload:
            self._encoded = data_frame(payload)
            self._payload = payload
        return self._encoded

    def encode_all(self, payloads: Sequence[str | bytes]) -> bytes:
        """The frames of ``payloads``, in order, as one bytes object."""
        if len(payloads) == 1:
            return self.encode(payloads[0])
        # Equal lists of equal payloads make equal frames; the same objects compare at
        # once. A copy: the caller's list may grow afterwards.
        if payloads != self._run:
            self._run = list(payloads)
            self._run_encoded = b"".join([self.encode(payload) for payload in payloads])
        return self._run_encoded
