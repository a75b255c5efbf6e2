"""Socket.IO packets as the Engine.IO frames that carry them, encoded once per emit."""

from collections.abc import Sequence
from typing import Any

from ..protocol import socketio
from ..protocol.engineio import Frame, message_frame
from ..protocol.socketio import Packet, PacketType

# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK


def frames_of(packet: Packet) -> tuple[Frame, ...]:
    """The frames of one packet: the text packet, then any binary attachments."""
    encoded = socketio.encode(packet)
    if len(encoded) == 1:  # no attachments: nearly every packet
        return (message_frame(encoded[0]),)
    return (message_frame(encoded[0]), *encoded[1:])


def event_frames(
    namespace: str, event: str, args: Sequence[Any], ack_id: int | None = None
) -> tuple[Frame, ...]:
    return frames_of(Packet(_EVENT, namespace, [event, *args], ack_id))


def ack_frames(namespace: str, ack_id: int, args: Sequence[Any]) -> tuple[Frame, ...]:
    return frames_of(Packet(_ACK, namespace, list(args), ack_id))


def control_frame(packet_type: PacketType, namespace: str, data: Any = None) -> Frame:
    """CONNECT, DISCONNECT and CONNECT_ERROR: always a single text frame."""
    return frames_of(Packet(packet_type, namespace, data))[0]
