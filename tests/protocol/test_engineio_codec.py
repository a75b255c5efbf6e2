"""Engine.IO packets and polling payloads: round trips, and python-engineio as a peer."""

import json
from typing import Any

import pytest
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from hypothesis import given

from minidiscord.protocol import engineio
from minidiscord.protocol.engineio import Packet, PacketType

from .strategies import PAYLOAD_TEXT, eio_binary_packets, eio_text_packets, payload_frames


@given(eio_text_packets)
def test_text_packet_round_trip(packet: Packet) -> None:
    frame = engineio.encode_packet(packet)
    assert isinstance(frame, str)
    assert engineio.decode_packet(frame) == packet


@given(eio_binary_packets)
def test_binary_packet_travels_as_raw_bytes(packet: Packet) -> None:
    frame = engineio.encode_packet(packet)
    assert frame == packet.data
    assert engineio.decode_packet(frame) == packet


@given(payload_frames)
def test_payload_round_trip_text_and_bytes_body(frames: list[str | bytes]) -> None:
    payload = engineio.encode_payload(frames)
    expected = [engineio.decode_packet(frame) for frame in frames]
    assert engineio.decode_payload(payload) == expected
    assert engineio.decode_payload(payload.encode()) == expected


@given(PAYLOAD_TEXT)
def test_message_frame_is_the_encoded_message_packet(data: str) -> None:
    assert engineio.message_frame(data) == engineio.encode_packet(Packet(PacketType.MESSAGE, data))
    assert engineio.message_frame(data.encode()) == data.encode()


@pytest.mark.parametrize(
    ("frames", "payload"),
    [
        # The examples of the specification's "Packet encoding" section.
        (["4hello", "2", "4world"], "4hello\x1e2\x1e4world"),
        (["4hello", b"\x01\x02\x03\x04"], "4hello\x1ebAQIDBA=="),
    ],
)
def test_payload_matches_the_specification_examples(
    frames: list[str | bytes], payload: str
) -> None:
    assert engineio.encode_payload(frames) == payload
    assert [engineio.encode_packet(p) for p in engineio.decode_payload(payload)] == frames


def test_constant_frames() -> None:
    assert engineio.decode_packet(engineio.PING_FRAME) == Packet(PacketType.PING)
    assert engineio.decode_packet(engineio.PONG_FRAME) == Packet(PacketType.PONG)
    assert engineio.decode_packet(engineio.NOOP_FRAME) == Packet(PacketType.NOOP)
    assert engineio.decode_packet(engineio.CLOSE_FRAME) == Packet(PacketType.CLOSE)
    assert engineio.decode_packet("2probe") == Packet(PacketType.PING, "probe")


def test_only_message_packets_carry_bytes() -> None:
    with pytest.raises(ValueError, match="binary"):
        Packet(PacketType.PING, b"x")


def _same_data(ours: Packet, theirs: Any) -> bool:
    # python-engineio reads text data as JSON when it parses; compare on that footing.
    if isinstance(theirs.data, str | bytes):
        return bool(theirs.data == ours.data)
    assert isinstance(ours.data, str)
    return json.dumps(theirs.data) == json.dumps(json.loads(ours.data))


@given(payload_frames)
def test_python_engineio_decodes_our_payloads(frames: list[str | bytes]) -> None:
    ours = engineio.decode_payload(engineio.encode_payload(frames))
    theirs = eio_payload.Payload(encoded_payload=engineio.encode_payload(frames)).packets
    assert [p.packet_type for p in theirs] == [p.type.value for p in ours]
    assert all(_same_data(o, t) for o, t in zip(ours, theirs, strict=True))


@given(payload_frames)
def test_we_decode_python_engineio_payloads(frames: list[str | bytes]) -> None:
    expected = [engineio.decode_packet(frame) for frame in frames]
    theirs = eio_payload.Payload(
        packets=[eio_packet.Packet(p.type.value, p.data) for p in expected]
    ).encode()
    assert engineio.decode_payload(theirs) == expected


@given(eio_text_packets)
def test_websocket_frames_match_python_engineio(packet: Packet) -> None:
    theirs = eio_packet.Packet(packet.type.value, packet.data).encode()
    assert engineio.encode_packet(packet) == theirs


@given(eio_binary_packets)
def test_binary_websocket_frames_match_python_engineio(packet: Packet) -> None:
    assert engineio.encode_packet(packet) == eio_packet.Packet(4, packet.data).encode()
