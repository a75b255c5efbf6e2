"""Counting server WebSocket frames by their headers alone, for clients that only receive.

A load generator's bulk clients need how many messages arrived, not what they say: this
walks the frame headers of a byte stream and looks at no more than the first few payload
bytes of each message (enough to tell a delivery, a Socket.IO packet and an Engine.IO ping
apart), so its cost per frame is a few integer operations, and a frame split across reads,
however long, is never copied whole (only a header cut short is carried to the next read),
except the few kinds of message a caller asks to see whole.
"""

from __future__ import annotations

from collections.abc import Callable

from benchkit.wire import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, WireError

# First payload bytes of Socket.IO (b"4") and Engine.IO ping (b"2") / close (b"1") packets.
_SOCKETIO, _PING, _CLOSE = 0x34, 0x32, 0x31
# A final text frame's first byte, the head of a frame with a 16-bit length, and the
# shortest payload that length is used for.
_FIN_TEXT = 0x80 | OP_TEXT
_HEAD_16 = 4
_LENGTH_16_MIN = 126


class FrameCounter:
    """Counts the messages of one server's frame stream, fed as it arrives in any cuts.

    Messages starting with ``prefix`` are counted, and apart from them those starting with
    ``second_prefix`` (when given). Messages starting with one of ``whole`` (text frames,
    not fragmented) are read whole and handed to ``on_whole`` (what tells a chat client of
    other users: a few per client and per joining user, never the deliveries).
    After each :meth:`feed`: ``pings`` (Engine.IO pings not
    yet answered; the caller answers and lowers it), ``ws_pings`` (payloads of WebSocket
    pings to echo in pongs), ``closed`` (a WebSocket close, an Engine.IO close or a
    Socket.IO disconnect arrived).
    """

    __slots__ = (
        "_on_whole",
        "_peek",
        "_prefix",
        "_second_prefix",
        "_skip",
        "_tail",
        "_whole",
        "closed",
        "pings",
        "ws_pings",
    )

    def __init__(
        self,
        prefix: bytes,
        second_prefix: bytes = b"",
        whole: tuple[bytes, ...] = (),
        on_whole: Callable[[bytes], None] | None = None,
    ) -> None:
        if whole and on_whole is None:
            raise ValueError("messages kept whole need someone to hand them to")
        self._prefix = prefix
        self._second_prefix = second_prefix
        self._whole = whole
        self._on_whole = on_whole
        # Payload bytes needed to classify a message.
        self._peek = max(len(prefix), len(second_prefix), *(len(w) for w in whole), 2)
        self._skip = 0  # payload bytes of an already counted frame still to come
        self._tail = b""  # the start of a frame whose head (and peek) is not complete yet
        self.pings = 0
        self.ws_pings: list[bytes] = []
        self.closed = False

    def feed(self, data: bytes | bytearray, size: int | None = None) -> tuple[int, int, int, int]:
        """Count the frames completed or begun in ``data[:size]``: (messages, Socket.IO
        packets, messages starting with the prefix, with the second prefix) among them.

        A message is counted once its head and first bytes are in, whether or not the rest
        of it is; fragments after the first are not messages. Raises WireError on a masked
        frame (servers never mask, RFC 6455 5.1).
        """
        end = len(data) if size is None else size
        pos = self._skip
        if self._tail:
            data = self._tail + data[:end]
            end = len(data)
            self._tail = b""
        if pos >= end:
            self._skip = pos - end
            return 0, 0, 0, 0
        prefix, second, peek, whole = self._prefix, self._second_prefix, self._peek, self._whole
        prefix_len, second_len = len(prefix), len(second)
        messages = packets = matches = second_matches = 0
        # The usual frame, a final text frame with a 16-bit length, its peek in: counted as
        # the general loop below counts it, in fewer steps (this loop runs once per delivery
        # the load generator takes). A longer peek or a shorter length takes the general way.
        fast_need = _HEAD_16 + peek if peek <= _LENGTH_16_MIN else end + 1
        while True:
            if end - pos >= fast_need and data[pos + 1] == 126 and data[pos] == _FIN_TEXT:
                length = (data[pos + 2] << 8) | data[pos + 3]
                body = pos + _HEAD_16
                if length >= peek:
                    if data[body] != _SOCKETIO:
                        messages += 1
                        pos = body + length
                        continue
                    if data.startswith(prefix, body):
                        messages += 1
                        packets += 1
                        matches += 1
                        pos = body + length
                        continue
                    # A message kept whole takes the general way (which waits for all of it).
                    if not (whole and data.startswith(whole, body)):
                        messages += 1
                        packets += 1
                        if second_len and data.startswith(second, body):
                            second_matches += 1
                        pos = body + length
                        continue
            left = end - pos
            if left < 2:
                break
            length = data[pos + 1]
            head = 2
            if length >= 126:
                if length == 126:
                    if left < 4:
                        break
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    head = 4
                elif length == 127:
                    if left < 10:
                        break
                    length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    head = 10
                else:
                    raise WireError("masked frame from the server")
            opcode = data[pos] & 0x0F
            # A control frame (at most 125 bytes) is read whole: a ping's payload is echoed.
            need = length if opcode >= OP_CLOSE or length < peek else peek
            if left < head + need:
                break
            body = pos + head
            kept = whole and opcode == OP_TEXT and data.startswith(whole, body)
            if kept and left < head + length:
                break  # carried to the next read until the whole message is in
            if opcode in (OP_TEXT, OP_BINARY):
                messages += 1
                if length:
                    first = data[body]
                    if kept:
                        assert self._on_whole is not None  # checked with whole
                        self._on_whole(bytes(data[body : body + length]))
                    if first == _SOCKETIO:
                        packets += 1
                        # At least min(length, peek) payload bytes are in: a prefix no
                        # longer than the message is there to compare.
                        if length >= prefix_len and data.startswith(prefix, body):
                            matches += 1
                        elif second_len and length >= second_len and data.startswith(second, body):
                            second_matches += 1
                        elif length == 2 and data[body + 1] == _CLOSE:
                            self.closed = True
                    elif length == 1:
                        if first == _PING:
                            self.pings += 1
                        elif first == _CLOSE:
                            self.closed = True
            elif opcode == OP_PING:
                self.ws_pings.append(bytes(data[body : body + length]))
            elif opcode == OP_CLOSE:
                self.closed = True
            pos = body + length
        if pos > end:
            self._skip = pos - end
        else:
            self._skip = 0
            if pos < end:
                self._tail = bytes(data[pos:end])
        return messages, packets, matches, second_matches
