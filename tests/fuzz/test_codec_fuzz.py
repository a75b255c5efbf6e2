"""Every decoder against arbitrary and almost-right input: typed errors only, fixed points.

Extends tests/protocol/test_malformed.py: there each decoder meets random text; here they
meet raw bytes, hostile JSON, lying attachment sequences driven as a state machine, odd
namespaces and ack ids, and whatever they accept must survive re-encoding unchanged.
"""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from minidiscord.protocol import engineio, jsoncodec, socketio
from minidiscord.protocol.errors import EngineIOProtocolError, SocketIOProtocolError
from minidiscord.protocol.socketio import Decoder, Packet

from ..protocol.strategies import socketio_packets
from .hostile import raw_json_texts

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    return 0


def assert_fixed_point(packet: Packet) -> None:
    """What the server accepted, re-encoded and decoded again, is the same packet."""
    frames = socketio.encode(packet)
    decoder = Decoder(max_attachments=len(frames))
    again = None
    for frame in frames:
        again = decoder.receive(frame)
    assert again is not None
    assert socketio.encode(again) == frames


# --- JSON ----------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200) | st.sampled_from(raw_json_texts()))
def test_json_loads_refuses_with_its_own_error(text: str | bytes) -> None:
    try:
        value = jsoncodec.loads(text)
    except jsoncodec.JSONDecodeError:
        return
    assert depth(value) <= jsoncodec.MAX_DEPTH
    jsoncodec.dumps(value).encode("utf-8")  # echoable as a UTF-8 text frame


hostile_json = st.recursive(
    st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.sampled_from(["1e999", "-0", "0.0e-999", '"\\ud800"', '"\\u0000"', "null", "true"]),
        st.text(max_size=8).map(lambda t: jsoncodec.dumps(t)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.tuples(st.integers(min_value=100, max_value=400), inner).map(
            lambda pair: "[" * pair[0] + pair[1] + "]" * pair[0]
        ),
    ),
    max_leaves=6,
)


@FAST
@given(hostile_json)
def test_hostile_json_structures(text: str) -> None:
    try:
        value = jsoncodec.loads(text)
    except jsoncodec.JSONDecodeError:
        assert text.count("[") > jsoncodec.MAX_DEPTH - 1
        return
    assert depth(value) <= jsoncodec.MAX_DEPTH
    # A fixed point after one trip: 1e999 reads as infinity and is written as null, as in
    # JavaScript.
    once = jsoncodec.dumps(value)
    assert jsoncodec.dumps(jsoncodec.loads(once)) == once


# --- Engine.IO -----------------------------------------------------------------------


@FAST
@given(st.binary(max_size=64), st.sampled_from([bytes, bytearray, memoryview]))
def test_binary_frames_of_any_buffer_type_are_messages(data: bytes, kind: type) -> None:
    packet = engineio.decode_packet(kind(data))
    assert packet == engineio.Packet(engineio.PacketType.MESSAGE, data)


@FAST
@given(
    st.lists(st.text(max_size=10) | st.binary(max_size=10), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=200),
    st.text(max_size=3),
    st.integers(min_value=1, max_value=8),
)
def test_corrupted_payloads(frames: list[str | bytes], at: int, junk: str, limit: int) -> None:
    body = engineio.encode_payload(frames)
    corrupted = body[:at] + junk + body[at + len(junk) // 2 :]
    try:
        packets = engineio.decode_payload(
            corrupted.encode("utf-8", "surrogatepass"), max_packets=limit
        )
    except EngineIOProtocolError:
        return
    assert 1 <= len(packets) <= limit
    for packet in packets:
        engineio.encode_packet(packet)


# --- Socket.IO -----------------------------------------------------------------------

odd_namespaces = st.text(min_size=0, max_size=12).map(lambda name: "/" + name)


@FAST
@given(odd_namespaces, st.sampled_from(["0", "1", '2["e"]', "21[]"]))
def test_odd_namespaces_round_trip_or_fail_typed(namespace: str, rest: str) -> None:
    kind, body = rest[0], rest[1:]
    text = f"{kind}{namespace},{body}" if kind != "2" else f"2{namespace},{body}"
    try:
        packet = Decoder().receive(text)
    except SocketIOProtocolError:
        return
    assert packet is not None
    assert_fixed_point(packet)


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_ack_ids_in_range_or_refused(digits: str) -> None:
    try:
        packet = Decoder().receive(f'2{digits}["e"]')
    except SocketIOProtocolError:
        assert len(digits) > 16 or int(digits) > socketio.MAX_ACK_ID
        return
    assert packet is not None
    assert packet.id == int(digits) <= socketio.MAX_ACK_ID
    assert_fixed_point(packet)


class LyingAttachments(RuleBasedStateMachine):
    """A decoder fed valid packets, headers whose counts lie, and stray binary messages.

    Whatever it completes must be whole (every placeholder replaced by the announced
    attachments) and must re-encode to itself; after any error the connection is closed,
    so the machine starts a new decoder.
    """

    def __init__(self) -> None:
        super().__init__()
        self.decoder = Decoder(max_attachments=4)
        self.announced = 0
        self.given = 0

    def _feed(self, message: str | bytes) -> None:
        try:
            packet = self.decoder.receive(message)
        except SocketIOProtocolError:
            self.decoder = Decoder(max_attachments=4)
            self.announced = self.given = 0
            return
        if isinstance(message, bytes):
            self.given += 1
        if packet is not None:
            assert len(packet.attachments) == self.announced
            assert_fixed_point(packet)
            self.announced = self.given = 0

    @rule(packet=socketio_packets())
    def valid_packet(self, packet: Packet) -> None:
        frames = socketio.encode(packet)
        if len(frames) - 1 > 4:
            return
        if not self.decoder.awaiting_attachments:
            self.announced, self.given = len(frames) - 1, 0
        for frame in frames:
            self._feed(frame)

    @rule(
        count=st.integers(min_value=0, max_value=6),
        nums=st.lists(st.integers(min_value=-1, max_value=6) | st.just(2**70), max_size=4),
    )
    def lying_header(self, count: int, nums: list[int]) -> None:
        placeholders = ",".join(f'{{"_placeholder":true,"num":{num}}}' for num in nums)
        if not self.decoder.awaiting_attachments:
            self.announced = count
            self.given = 0
        self._feed(f'5{count}-["e"{"," if nums else ""}{placeholders}]')

    @rule(data=st.binary(max_size=8))
    def attachment(self, data: bytes) -> None:
        self._feed(data)

    @precondition(lambda self: self.decoder.awaiting_attachments)
    @rule()
    def interrupted(self) -> None:
        self._feed('2["e"]')

    @invariant()
    def waiting_only_for_announced(self) -> None:
        if self.decoder.awaiting_attachments:
            assert self.given < self.announced


TestLyingAttachments = LyingAttachments.TestCase
TestLyingAttachments.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
