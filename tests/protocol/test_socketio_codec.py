"""Socket.IO packets: round trips, placeholders both ways, python-socketio as a peer."""

from typing import Any

import pytest
from hypothesis import given
from socketio import packet as sio_packet

from minidiscord.protocol import socketio
from minidiscord.protocol.socketio import Decoder, Packet, PacketType

from .strategies import binary_leaves, socketio_packets


def decode_all(frames: list[str | bytes]) -> Packet:
    """Feed a whole encoded packet to a fresh decoder; only the last message completes it."""
    decoder = Decoder(max_attachments=1000)
    results = [decoder.receive(frame) for frame in frames]
    assert results[:-1] == [None] * (len(frames) - 1)
    assert not decoder.awaiting_attachments
    packet = results[-1]
    assert packet is not None
    return packet


@given(socketio_packets())
def test_round_trip(packet: Packet) -> None:
    frames = socketio.encode(packet)
    attachments = binary_leaves(packet.data)
    assert isinstance(frames[0], str)
    assert frames[1:] == attachments
    decoded = decode_all(frames)
    assert decoded == Packet(
        packet.type, packet.namespace, packet.data, packet.id, tuple(attachments)
    )


@given(socketio_packets())
def test_binary_packets_announce_their_attachment_count(packet: Packet) -> None:
    text = socketio.encode(packet)[0]
    assert isinstance(text, str)
    attachments = binary_leaves(packet.data)
    if attachments:
        binary_type = 5 if packet.type is PacketType.EVENT else 6
        assert text.startswith(f"{binary_type}{len(attachments)}-")
    else:
        assert text[0] == str(packet.type.value)


@given(socketio_packets())
def test_python_socketio_decodes_our_packets(packet: Packet) -> None:
    text, *attachments = socketio.encode(packet)
    theirs = sio_packet.Packet(encoded_packet=text)
    for attachment in attachments:
        theirs.add_attachment(attachment)
    assert theirs.packet_type in (packet.type.value, packet.type.value + 3)
    assert (theirs.namespace or "/") == packet.namespace.split("?")[0]
    assert theirs.id == packet.id
    assert theirs.data == packet.data


@given(socketio_packets())
def test_we_decode_python_socketio_packets(packet: Packet) -> None:
    encoded: Any = sio_packet.Packet(
        packet.type.value, packet.data, packet.namespace, packet.id
    ).encode()
    frames = encoded if isinstance(encoded, list) else [encoded]
    decoded = decode_all(frames)
    assert (decoded.type, decoded.namespace, decoded.data, decoded.id) == (
        packet.type,
        packet.namespace,
        packet.data,
        packet.id,
    )


PLACEHOLDER_0 = '{"_placeholder":true,"num":0}'
PLACEHOLDER_1 = '{"_placeholder":true,"num":1}'


@pytest.mark.parametrize(
    ("packet", "frames"),
    [
        # The examples of the Socket.IO specification's "Packet encoding" section.
        (Packet(PacketType.CONNECT), ["0"]),
        (
            Packet(PacketType.CONNECT, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"}),
            ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
        ),
        (Packet(PacketType.CONNECT, "/admin"), ["0/admin,"]),
        (
            Packet(PacketType.CONNECT_ERROR, "/", {"message": "Not authorized"}),
            ['4{"message":"Not authorized"}'],
        ),
        (Packet(PacketType.EVENT, "/", ["foo"]), ['2["foo"]']),
        (Packet(PacketType.EVENT, "/admin", ["bar"]), ['2/admin,["bar"]']),
        (
            Packet(PacketType.EVENT, "/", ["baz", b"\x01\x02\x03\x04"]),
            [f'51-["baz",{PLACEHOLDER_0}]', b"\x01\x02\x03\x04"],
        ),
        (
            Packet(PacketType.EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
            [f'52-/admin,["baz",{PLACEHOLDER_0},{PLACEHOLDER_1}]', b"\x01\x02", b"\x03\x04"],
        ),
        (Packet(PacketType.EVENT, "/", ["foo"], 12), ['212["foo"]']),
        (Packet(PacketType.ACK, "/", [], 12), ["312[]"]),
        (Packet(PacketType.EVENT, "/admin", ["foo"], 13), ['2/admin,13["foo"]']),
        (Packet(PacketType.ACK, "/admin", ["bar"], 13), ['3/admin,13["bar"]']),
        (
            Packet(PacketType.EVENT, "/", ["foo", b"\x01\x02\x03\x04"], 14),
            [f'51-14["foo",{PLACEHOLDER_0}]', b"\x01\x02\x03\x04"],
        ),
        (
            Packet(PacketType.ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15),
            [f'61-15["bar",{PLACEHOLDER_0}]', b"\x01\x02\x03\x04"],
        ),
        (Packet(PacketType.DISCONNECT), ["1"]),
        (Packet(PacketType.DISCONNECT, "/admin"), ["1/admin,"]),
    ],
)
def test_specification_examples(packet: Packet, frames: list[str | bytes]) -> None:
    assert socketio.encode(packet) == frames
    decoded = decode_all(frames)
    assert (decoded.type, decoded.namespace, decoded.data, decoded.id) == (
        packet.type,
        packet.namespace,
        packet.data,
        packet.id,
    )


def test_placeholders_are_resolved_wherever_they_sit() -> None:
    decoder = Decoder()
    text = f'52-/chat,7["up",{{"a":[{PLACEHOLDER_1}]}},{PLACEHOLDER_0},{PLACEHOLDER_1}]'
    assert decoder.receive(text) is None
    assert decoder.awaiting_attachments
    assert decoder.receive(b"zero") is None
    packet = decoder.receive(b"one")
    assert packet == Packet(
        PacketType.EVENT, "/chat", ["up", {"a": [b"one"]}, b"zero", b"one"], 7, (b"zero", b"one")
    )
    assert not decoder.awaiting_attachments


def test_decoder_is_reusable_after_each_complete_packet() -> None:
    decoder = Decoder()
    for _ in range(3):
        assert decoder.receive(f'51-["x",{PLACEHOLDER_0}]') is None
        assert decoder.receive(b"\x00") == Packet(
            PacketType.EVENT, "/", ["x", b"\x00"], None, (b"\x00",)
        )
        assert decoder.receive('2["y"]') == Packet(PacketType.EVENT, "/", ["y"])


def test_binary_event_without_attachments_completes_at_once() -> None:
    assert Decoder().receive('50-["x"]') == Packet(PacketType.EVENT, "/", ["x"])


def test_namespace_without_trailing_comma() -> None:
    # The official test suite sends "40/custom" and "41/custom" without the comma.
    assert Decoder().receive("0/custom") == Packet(PacketType.CONNECT, "/custom")
    assert Decoder().receive("1/custom") == Packet(PacketType.DISCONNECT, "/custom")


def test_encode_event_helper() -> None:
    assert socketio.encode_event("hey", ["Jude"]) == ['2["hey","Jude"]']
    assert socketio.encode_event("hey", [b"\x01"], "/a") == [
        f'51-/a,["hey",{PLACEHOLDER_0}]',
        b"\x01",
    ]


def test_a_packet_is_encoded_whole_unless_it_holds_bytes_or_what_only_the_fallback_writes() -> None:
    # Without a walk of the data first: bytes of every kind, however deep, still become
    # placeholders, and what orjson refuses still gets the lenient encoder's text.
    nested = ["x", (bytearray(b"\x01"), {"m": memoryview(b"\x02")})]
    assert socketio.encode(Packet(PacketType.EVENT, "/", nested)) == [
        f'52-["x",[{PLACEHOLDER_0},{{"m":{PLACEHOLDER_1}}}]]',
        b"\x01",
        b"\x02",
    ]
    assert socketio.encode(Packet(PacketType.ACK, "/", ["\ud800", 2**70], 3)) == [
        '33["\\ud800",1180591620717411303424]'
    ]
