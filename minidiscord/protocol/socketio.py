"""Socket.IO protocol 5 packets: encoding, decoding and binary attachment reassembly.

Wire form of one packet (the data of an Engine.IO MESSAGE)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

Binary packets carry ``{"_placeholder": true, "num": n}`` in the JSON where each
``bytes`` value was, and the attachments follow as separate binary messages.
"""

from collections.abc import Sequence
from dataclasses import field
from enum import IntEnum
from typing import Any, TypeAlias

from ..records import record
from . import jsoncodec
from .engineio import Frame, by_digit
from .errors import SocketIOProtocolError

DEFAULT_NAMESPACE = "/"
# Ack ids beyond JavaScript's safe integers cannot round-trip through a JS client.
MAX_ACK_ID = 2**53 - 1
# Events a client may not emit: the server raises them itself.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

JSONValue: TypeAlias = Any


class PacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@record
class Packet:
    type: PacketType
    namespace: str = DEFAULT_NAMESPACE
    data: JSONValue = None
    id: int | None = None
    # Binary payloads; for a decoded packet they are already put back into ``data``.
    attachments: tuple[bytes, ...] = field(default=())


_BY_DIGIT = by_digit(PacketType)
# Python 3.11 finds an enum's members through its class's ``__getattr__`` hook, ten times
# a global's cost: every packet's path names them through these instead (docs/architecture.md,
# "Two rules for code every message runs").
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_BINARY_EVENT = PacketType.BINARY_EVENT
_BINARY_ACK = PacketType.BINARY_ACK
_BINARY = (_BINARY_EVENT, _BINARY_ACK)
# And back: a dict lookup, not the enum's value property, on every packet encoded.
_DIGIT_OF = {kind: str(kind.value) for kind in PacketType}


def encode(packet: Packet) -> list[Frame]:
    """Encode a packet as the Engine.IO message data it travels in.

    The first element is the text packet; binary attachments, if any, follow as bytes.
    A packet whose data holds ``bytes`` is sent as BINARY_EVENT / BINARY_ACK.
    """
    attachments: list[bytes] = []
    text = None
    if packet.data is not None:
        # Nearly every packet holds no bytes: encoded at once, without a walk of its data
        # to find them (None when it does hold some, or anything orjson alone refuses).
        text = jsoncodec.dumps_without_binary(packet.data)
        if text is None:
            text = jsoncodec.dumps(deconstruct_binary(packet.data, attachments))
    packet_type = packet.type
    if attachments:
        if packet_type is _EVENT:
            packet_type = _BINARY_EVENT
        elif packet_type is _ACK:
            packet_type = _BINARY_ACK
    parts = [_DIGIT_OF[packet_type]]
    if packet_type in _BINARY:
        parts.append(f"{len(attachments)}-")
    if packet.namespace != DEFAULT_NAMESPACE:
        parts.append(packet.namespace + ",")
    if packet.id is not None:
        parts.append(str(packet.id))
    if text is not None:
        parts.append(text)
    frames: list[Frame] = ["".join(parts)]
    frames.extend(attachments)
    return frames


def encode_event(event: str, args: Sequence[JSONValue], namespace: str = "/") -> list[Frame]:
    return encode(Packet(_EVENT, namespace, [event, *args]))


def deconstruct_binary(value: JSONValue, attachments: list[bytes]) -> JSONValue:
    """``value`` with every bytes-like part replaced by a placeholder ``{"_placeholder":
    true, "num": N}``, the bytes appended to ``attachments`` (Socket.IO's binary form; the
    Redis adapter carries bodies the same way)."""
    if isinstance(value, bytes | bytearray | memoryview):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [deconstruct_binary(item, attachments) for item in value]
    if isinstance(value, dict):
        return {key: deconstruct_binary(item, attachments) for key, item in value.items()}
    return value


def _parse_text(text: str, max_attachments: int) -> tuple[Packet, int]:
    """A text packet, and how many binary attachments it announces (its placeholders
    still in its data until they come)."""
    if not text:
        raise SocketIOProtocolError("empty packet")
    type_char = text[0]
    if not ("0" <= type_char <= "6"):
        raise SocketIOProtocolError(f"unknown packet type {type_char!r}")
    packet_type = _BY_DIGIT[ord(type_char) - 48]
    pos = 1
    length = len(text)

    attachment_count = 0
    if packet_type in _BINARY:
        dash = text.find("-", pos)
        digits = text[pos:dash] if dash != -1 else ""
        if not digits.isdigit() or not digits.isascii():
            raise SocketIOProtocolError("binary packet without a valid attachment count")
        attachment_count = int(digits) if len(digits) <= 6 else max_attachments + 1
        if attachment_count > max_attachments:
            raise SocketIOProtocolError(f"more than {max_attachments} attachments")
        pos = dash + 1

    namespace = DEFAULT_NAMESPACE
    if pos < length and text[pos] == "/":
        comma = text.find(",", pos)
        end = comma if comma != -1 else length
        namespace = text[pos:end]
        pos = end + 1 if comma != -1 else end

    ack_id: int | None = None
    start = pos
    while pos < length and "0" <= text[pos] <= "9":
        pos += 1
    if pos > start:
        digits = text[start:pos]
        if len(digits) > 16 or int(digits) > MAX_ACK_ID:
            raise SocketIOProtocolError("ack id out of range")
        ack_id = int(digits)

    data: JSONValue = None
    if pos < length:
        try:
            data = jsoncodec.loads(text[pos:])
        except jsoncodec.JSONDecodeError as exc:
            raise SocketIOProtocolError(f"invalid JSON payload: {exc}") from None

    _check_payload(packet_type, data, ack_id)
    return Packet(packet_type, namespace, data, ack_id), attachment_count


def _check_payload(packet_type: PacketType, data: JSONValue, ack_id: int | None) -> None:
    if packet_type is _EVENT or packet_type is _BINARY_EVENT:
        ok = (
            isinstance(data, list)
            and len(data) > 0
            and isinstance(data[0], str)
            and data[0] not in RESERVED_EVENTS
        )
    elif packet_type is PacketType.CONNECT:
        ok = data is None or isinstance(data, dict)
    elif packet_type is PacketType.DISCONNECT:
        ok = data is None
    elif packet_type is PacketType.CONNECT_ERROR:
        ok = isinstance(data, dict | str)
    else:  # ACK, BINARY_ACK
        ok = isinstance(data, list) and ack_id is not None
    if not ok:
        raise SocketIOProtocolError(f"invalid payload for {packet_type.name}")


def reconstruct_binary(value: JSONValue, attachments: Sequence[bytes]) -> JSONValue:
    """The inverse of :func:`deconstruct_binary`; raises SocketIOProtocolError for a
    placeholder naming a missing attachment."""
    if isinstance(value, list):
        return [reconstruct_binary(item, attachments) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True and len(value) == 2:
            num = value.get("num")
            if type(num) is not int or not 0 <= num < len(attachments):
                raise SocketIOProtocolError("placeholder refers to a missing attachment")
            return attachments[num]
        return {key: reconstruct_binary(item, attachments) for key, item in value.items()}
    return value


class Decoder:
    """Turns a client's Engine.IO messages into Socket.IO packets, one message at a time.

    Sans-I/O, like h11's connection: feed each message to :meth:`receive` and get a
    complete :class:`Packet` back, or ``None`` while a binary packet still waits for its
    attachments. Any violation raises :class:`SocketIOProtocolError`; the connection is
    then unusable and should be closed.
    """

    def __init__(self, *, max_attachments: int = 10, max_attachment_bytes: int = 1 << 62) -> None:
        self._max_attachments = max_attachments
        # What one packet's attachments may add up to: a client that declares attachments
        # must not make the server hold more than one message's worth for it.
        self._max_attachment_bytes = max_attachment_bytes
        # A binary packet waiting for its attachments, and how many it announced.
        self._pending: Packet | None = None
        self._attachments_expected = 0
        self._buffers: list[bytes] = []
        self._buffered = 0

    @property
    def awaiting_attachments(self) -> bool:
        return self._pending is not None

    def receive(self, message: str | bytes) -> Packet | None:
        if isinstance(message, bytes):
            return self._receive_attachment(message)
        if self._pending is not None:
            raise SocketIOProtocolError("text packet while binary attachments were expected")
        packet, expected = _parse_text(message, self._max_attachments)
        if expected == 0:
            if packet.type in _BINARY:
                return self._complete(packet, [])
            return packet
        self._pending = packet
        self._attachments_expected = expected
        self._buffers = []
        self._buffered = 0
        return None

    def _receive_attachment(self, data: bytes) -> Packet | None:
        pending = self._pending
        if pending is None:
            raise SocketIOProtocolError("unexpected binary message")
        self._buffered += len(data)
        if self._buffered > self._max_attachment_bytes:
            raise SocketIOProtocolError(
                f"attachments of one packet over {self._max_attachment_bytes} bytes"
            )
        self._buffers.append(data)
        if len(self._buffers) < self._attachments_expected:
            return None
        buffers, self._buffers, self._pending = self._buffers, [], None
        return self._complete(pending, buffers)

    @staticmethod
    def _complete(pending: Packet, buffers: list[bytes]) -> Packet:
        data = reconstruct_binary(pending.data, buffers)
        packet_type = (
            PacketType.EVENT if pending.type is PacketType.BINARY_EVENT else PacketType.ACK
        )
        return Packet(packet_type, pending.namespace, data, pending.id, tuple(buffers))
