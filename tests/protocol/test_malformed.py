"""Malformed input raises only our typed errors, and whatever we accept we can send back."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from minidiscord.protocol import engineio, jsoncodec, socketio
from minidiscord.protocol.errors import EngineIOProtocolError, SocketIOProtocolError
from minidiscord.protocol.socketio import Decoder, Packet, PacketType

from .strategies import TEXT_CHARS, socketio_packets

PLACEHOLDER_0 = '{"_placeholder":true,"num":0}'


def feed(decoder: Decoder, message: str | bytes) -> Packet | None:
    """Feed one message; a typed error is an allowed outcome, anything else fails the test."""
    try:
        packet = decoder.receive(message)
    except SocketIOProtocolError:
        return None
    if packet is not None:
        # Whatever we accept, the server may echo: encoding it must never fail.
        socketio.encode(packet)
    return packet


def feed_all(decoder: Decoder, messages: list[str | bytes]) -> None:
    for message in messages:
        decoder.receive(message)


# --- Engine.IO ---------------------------------------------------------------


@given(st.text())
@example("")
@example("7")
@example("x")
@example("\x1e")
def test_decode_packet_random_text(frame: str) -> None:
    try:
        packet = engineio.decode_packet(frame)
    except EngineIOProtocolError:
        return
    assert engineio.encode_packet(packet) == frame


@given(st.binary() | st.text())
@example(b"")
@example(b"\xff\xfe")
@example("4a\x1e\x1e4b")
@example("b")
@example("b!!!")
@example("bAQIDBA")
@example("bAQ IDBA==")
@example("4a\x1eb====")
def test_decode_payload_random_body(body: bytes | str) -> None:
    try:
        packets = engineio.decode_payload(body)
    except EngineIOProtocolError:
        return
    assert packets


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"4hello\xff",  # invalid UTF-8
        b"\xc3\x28",
        "4hello\x1e",  # an empty packet after the separator
        "\x1e4hello",
        "9hello",  # unknown packet type
        "hello",
        "bAQIDBA",  # base64 without its padding
        "b#not-base64",
        "4ok\x1ebAQ=ID",
    ],
)
def test_bad_payloads_raise_engineio_errors(body: bytes | str) -> None:
    with pytest.raises(EngineIOProtocolError):
        engineio.decode_payload(body)


def test_payload_packet_limit() -> None:
    assert len(engineio.decode_payload("\x1e".join(["4a"] * 16), max_packets=16)) == 16
    with pytest.raises(EngineIOProtocolError):
        engineio.decode_payload("\x1e".join(["4a"] * 17), max_packets=16)


# --- Socket.IO ---------------------------------------------------------------


@given(st.text())
@example("")
@example("7")
@example("2")
@example("5-")
@example("5x-[]")
@example("2abc")
@example("2[]")
@example("2[1]")
@example('2["connect"]')
@example("3[]")
@example("31{}")
@example("0[]")
@example('1["x"]')
@example("41{}")
@example("2/")
@example("2/,")
def test_random_text_packets(text: str) -> None:
    feed(Decoder(), text)


@given(st.lists(st.one_of(st.text(TEXT_CHARS, max_size=30), st.binary(max_size=8)), max_size=8))
def test_random_message_sequences(messages: list[str | bytes]) -> None:
    decoder = Decoder()
    for message in messages:
        try:
            packet = decoder.receive(message)
        except SocketIOProtocolError:
            return  # the connection is closed at the first error
        if packet is not None:
            socketio.encode(packet)


@given(socketio_packets(), st.data())
def test_truncated_packets(packet: Packet, data: st.DataObject) -> None:
    text = socketio.encode(packet)[0]
    assert isinstance(text, str)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    feed(Decoder(), text[:cut])


@given(socketio_packets(), st.data())
def test_corrupted_packets(packet: Packet, data: st.DataObject) -> None:
    text = socketio.encode(packet)[0]
    assert isinstance(text, str)
    pos = data.draw(st.integers(min_value=0, max_value=len(text)))
    junk = data.draw(st.text(max_size=4))
    decoder = Decoder()
    if feed(decoder, text[:pos] + junk + text[pos:]) is None and decoder.awaiting_attachments:
        for attachment in socketio.encode(packet)[1:]:
            feed(decoder, attachment)


BAD_PACKETS = [
    "",
    "7",
    "9[]",
    "a",
    "-1",
    "2",  # an EVENT without payload
    "2{}",  # EVENT payload not an array
    "2[]",  # empty array
    "2[1]",  # event name not a string
    "2[null]",
    '2["disconnect"]',  # reserved event names
    '2["connect_error"]',
    "3[]",  # ACK without an id
    "31",  # ACK without payload
    '31{"a":1}',  # ACK payload not an array
    '0"auth"',  # CONNECT payload must be an object
    "0[]",
    '1{"x":1}',  # DISCONNECT carries nothing
    "4",  # CONNECT_ERROR needs a payload
    "4abc",  # invalid JSON
    '2["a",]',
    '2["a"',
    '2["a"] trailing',
    "2[NaN]",
    '2["a",Infinity]',
    '2abc["message-with-ack"]',  # the official suite's "invalid ack id"
    '2["a","\\ud800',
    # ack ids beyond JavaScript's safe integers
    f'2{2**53}["a"]',
    '2100000000000000000000["a"]',
    "2" + "9" * 400 + '["a"]',
    f"3/x,{2**53}[]",
    # attachment counts that lie or are malformed
    '5["a"]',
    '5-["a"]',
    '5x-["a"]',
    '5\u0661-["a"]',  # a non-ASCII digit
    '51["a"]',
    "51-",
    '511-["a"]',  # more than max_attachments
    '59999999999-["a"]',
    "6-1[]",
    "61-[]",  # BINARY_ACK without id
    # odd namespaces
    "2/a,",
    "2/,",
    '2/a,b["x"]',
]


@pytest.mark.parametrize("text", BAD_PACKETS)
def test_bad_packets_raise_socketio_errors(text: str) -> None:
    with pytest.raises(SocketIOProtocolError):
        # A header that was accepted must still fail once its attachments arrive.
        feed_all(Decoder(), [text] + [b"\x00"] * 11)


@pytest.mark.parametrize(
    "text",
    [
        '51-["a",{"_placeholder":true,"num":1}]',  # refers past the attachments
        '51-["a",{"_placeholder":true,"num":-1}]',
        '51-["a",{"_placeholder":true,"num":"0"}]',
        '51-["a",{"_placeholder":true,"num":0.0}]',
        '51-["a",{"_placeholder":true,"num":true}]',
        '51-["a",{"_placeholder":true}]',
        '50-["a",{"_placeholder":true,"num":0}]',  # announces none but uses one
        f'52-["a",{PLACEHOLDER_0},{{"_placeholder":true,"num":2}}]',
    ],
)
def test_placeholders_that_lie_raise_socketio_errors(text: str) -> None:
    with pytest.raises(SocketIOProtocolError):
        feed_all(Decoder(), [text, b"\x01", b"\x02"])


def test_unexpected_binary_and_interrupted_attachments() -> None:
    with pytest.raises(SocketIOProtocolError):
        Decoder().receive(b"\x01")
    decoder = Decoder()
    assert decoder.receive(f'52-["a",{PLACEHOLDER_0}]') is None
    assert decoder.receive(b"\x01") is None
    with pytest.raises(SocketIOProtocolError):
        decoder.receive('2["b"]')


@pytest.mark.parametrize("depth", [10, 100, 200, 254, 255, 300, 900, 1000, 1024, 1100, 5000])
@pytest.mark.parametrize(("open_", "close"), [("[", "]"), ('{"k":', "}")])
def test_deep_nesting(depth: int, open_: str, close: str) -> None:
    nested = open_ * depth + "1" + close * depth
    for text in (
        f'2["a",{nested}]',
        f'51-["a",{open_ * depth}{PLACEHOLDER_0}{close * depth}]',
        f"0{nested}" if open_ == "{" else "0{}",
    ):
        decoder = Decoder()
        if feed(decoder, text) is None and decoder.awaiting_attachments:
            feed(decoder, b"\x00")


@pytest.mark.parametrize(
    "value",
    [
        "1" * 5000,  # beyond Python's integer-string limit
        "1" * 30,  # beyond 64 bits
        "-" + "9" * 25,
        "1e400",  # overflows a double
        '"\\ud800"',  # a lone surrogate, which JavaScript's JSON.stringify writes
        '"\\udfff\\ud800"',
        '{"\\ud800":1}',
    ],
)
def test_odd_json_values_are_refused_or_echoable(value: str) -> None:
    feed(Decoder(), f'2["a",{value}]')


def test_lone_surrogates_round_trip() -> None:
    # JavaScript strings may hold lone surrogates and JSON.stringify escapes them.
    packet = Decoder().receive('2["a","\\ud800x"]')
    assert packet == Packet(PacketType.EVENT, "/", ["a", "\ud800x"])
    text = socketio.encode(packet)[0]
    assert isinstance(text, str)
    text.encode("utf-8")  # it must be sendable as a UTF-8 WebSocket text frame
    assert Decoder().receive(text) == packet


@given(st.integers(min_value=2**63, max_value=2**200) | st.integers(max_value=-(2**63) - 1))
def test_integers_beyond_64_bits_can_be_sent(number: int) -> None:
    text = socketio.encode(Packet(PacketType.EVENT, "/", ["n", number]))[0]
    assert isinstance(text, str)
    assert jsoncodec.loads(text[1:])[1] == pytest.approx(number)
