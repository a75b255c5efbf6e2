"""Hypothesis strategies for Engine.IO frames and Socket.IO packets, shared by the codec tests."""

from typing import Any

from hypothesis import strategies as st

from minidiscord.protocol import engineio, socketio

# Lone surrogates cannot travel in UTF-8, so no peer can send them raw.
TEXT_CHARS = st.characters(exclude_categories=["Cs"])
# The record separator splits polling payloads; the protocol assumes data never holds it.
PAYLOAD_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x1e"))

eio_text_packets = st.builds(
    engineio.Packet, st.sampled_from(list(engineio.PacketType)), st.text(TEXT_CHARS)
)
eio_binary_packets = st.builds(engineio.Packet, st.just(engineio.PacketType.MESSAGE), st.binary())

# A text frame is its type digit followed by the data.
payload_text_frames = st.builds(
    lambda kind, data: f"{kind.value}{data}",
    st.sampled_from(list(engineio.PacketType)),
    PAYLOAD_TEXT,
)
payload_frames = st.lists(st.one_of(payload_text_frames, st.binary()), min_size=1, max_size=16)

# Integers a JavaScript peer can represent exactly; floats JSON can carry.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT_CHARS, max_size=20),
)


def _no_placeholder_key(value: dict[str, Any]) -> bool:
    # A user object shaped like a placeholder is ambiguous in the protocol itself.
    return "_placeholder" not in value


def json_values(*, binary: bool) -> st.SearchStrategy[Any]:
    leaves = st.one_of(json_scalars, st.binary(max_size=16)) if binary else json_scalars
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(TEXT_CHARS, max_size=8), children, max_size=4).filter(
                _no_placeholder_key
            ),
        ),
        max_leaves=12,
    )


namespaces = st.one_of(
    st.just("/"),
    st.builds(
        lambda name: "/" + name,
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters=","), min_size=1),
    ),
)
ack_ids = st.integers(min_value=0, max_value=socketio.MAX_ACK_ID)
event_names = st.text(TEXT_CHARS, max_size=20).filter(lambda n: n not in socketio.RESERVED_EVENTS)


@st.composite
def socketio_packets(draw: st.DrawFn, *, binary: bool = True) -> socketio.Packet:
    """Any packet a conformant peer could send, with bytes wherever binary is allowed."""
    kind = draw(st.sampled_from([t for t in socketio.PacketType if t < 5]))
    namespace = draw(namespaces)
    if kind is socketio.PacketType.CONNECT:
        auth = draw(st.none() | st.dictionaries(st.text(max_size=8), json_values(binary=False)))
        return socketio.Packet(kind, namespace, auth)
    if kind is socketio.PacketType.DISCONNECT:
        return socketio.Packet(kind, namespace)
    if kind is socketio.PacketType.CONNECT_ERROR:
        message = draw(st.text(TEXT_CHARS, max_size=20))
        return socketio.Packet(kind, namespace, {"message": message})
    args = draw(st.lists(json_values(binary=binary), max_size=5))
    if kind is socketio.PacketType.EVENT:
        ack_id = draw(st.none() | ack_ids)
        return socketio.Packet(kind, namespace, [draw(event_names), *args], ack_id)
    return socketio.Packet(kind, namespace, args, draw(ack_ids))


def binary_leaves(value: Any) -> list[bytes]:
    """The bytes inside a JSON-like value, depth first, in the order the encoder meets them."""
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, list):
        return [leaf for item in value for leaf in binary_leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in binary_leaves(item)]
    return []
