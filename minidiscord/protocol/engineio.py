"""Engine.IO protocol 4 packets and HTTP long-polling payloads.

A *frame* is one packet in its WebSocket form: text packets are ``str`` (a type digit
followed by the data) and binary messages are raw ``bytes``. Outgoing packets are
encoded to frames once and shared by every recipient; the polling transport turns a
batch of frames into a payload only when it answers a GET.
"""

import base64
import binascii
from collections.abc import Iterable
from enum import IntEnum
from typing import TypeAlias, TypeVar

from ..records import record
from . import jsoncodec
from .errors import EngineIOProtocolError

PROTOCOL_VERSION = 4
RECORD_SEPARATOR = "\x1e"

Frame: TypeAlias = str | bytes


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_Kind = TypeVar("_Kind", bound=IntEnum)


def by_digit(kinds: type[_Kind]) -> tuple[_Kind, ...]:
    """A protocol's packet types indexed by their type digit's value (both protocols number
    them 0 to 6): indexing a tuple is cheaper than calling the enum (a lookup through its
    metaclass), on every packet a client sends."""
    ordered = tuple(kinds)
    assert all(kind.value == digit for digit, kind in enumerate(ordered))
    return ordered


_BY_DIGIT = by_digit(PacketType)


@record
class Packet:
    type: PacketType
    data: str | bytes = ""

    def __post_init__(self) -> None:
        if isinstance(self.data, bytes) and self.type is not PacketType.MESSAGE:
            raise ValueError("only MESSAGE packets carry binary data")


PING_FRAME = "2"
PONG_FRAME = "3"
NOOP_FRAME = "6"
CLOSE_FRAME = "1"


def open_frame(
    *, sid: str, upgrades: list[str], ping_interval_ms: int, ping_timeout_ms: int, max_payload: int
) -> str:
    """The OPEN packet that starts every session (the handshake)."""
    return "0" + jsoncodec.dumps(
        {
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": ping_interval_ms,
            "pingTimeout": ping_timeout_ms,
            "maxPayload": max_payload,
        }
    )


def message_frame(data: str | bytes) -> Frame:
    """The frame for a MESSAGE packet (the hot path: a string concatenation at most)."""
    if isinstance(data, bytes):
        return data
    return "4" + data


def encode_packet(packet: Packet) -> Frame:
    if isinstance(packet.data, bytes):
        return packet.data
    return f"{packet.type.value}{packet.data}"


def decode_packet(frame: Frame) -> Packet:
    """Decode one WebSocket frame (or one packet of a polling payload)."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(frame))
    if not frame:
        raise EngineIOProtocolError("empty packet")
    type_char = frame[0]
    if not ("0" <= type_char <= "6"):
        raise EngineIOProtocolError(f"unknown packet type {type_char!r}")
    return Packet(_BY_DIGIT[ord(type_char) - 48], frame[1:])


def encode_payload(frames: Iterable[Frame]) -> str:
    """Join frames into one long-polling payload (binary messages travel as base64)."""
    return RECORD_SEPARATOR.join(
        frame if isinstance(frame, str) else "b" + base64.b64encode(frame).decode("ascii")
        for frame in frames
    )


def decode_payload(body: bytes | str, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a long-polling POST body into its packets."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise EngineIOProtocolError("payload is not valid UTF-8") from None
    else:
        text = body
    if not text:
        raise EngineIOProtocolError("empty payload")
    parts = text.split(RECORD_SEPARATOR)
    if max_packets is not None and len(parts) > max_packets:
        raise EngineIOProtocolError(f"payload holds more than {max_packets} packets")
    return [_decode_payload_part(part) for part in parts]


def _decode_payload_part(part: str) -> Packet:
    if part.startswith("b"):
        try:
            data = base64.b64decode(part[1:], validate=True)
        except (binascii.Error, ValueError):
            raise EngineIOProtocolError("invalid base64 in binary packet") from None
        return Packet(PacketType.MESSAGE, data)
    return decode_packet(part)
