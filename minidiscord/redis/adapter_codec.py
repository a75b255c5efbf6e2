"""What the Redis adapter's servers say to each other, as stream entries.

One entry is one message: ``k`` its kind, ``u`` the sending server's id, ``n`` the
namespace, ``d`` its body as JSON. Bodies may hold ``bytes`` (a binary event's arguments):
each is put in a field of its own (``b0``, ``b1``...) and the JSON holds socket.io's
placeholder where it was, so binary travels as it is, never base64'd.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from ..protocol import jsoncodec
from ..protocol.errors import SocketIOProtocolError
from ..protocol.socketio import Packet, PacketType, deconstruct_binary, reconstruct_binary
from ..sockets import BroadcastFlags, BroadcastOptions


class Kind(StrEnum):
    """A message's kind (short: every entry carries it)."""

    # To every server, on the shared stream.
    BROADCAST = "b"
    BROADCAST_WITH_ACK = "ba"
    SOCKETS_JOIN = "j"
    SOCKETS_LEAVE = "l"
    DISCONNECT_SOCKETS = "x"
    FETCH_SOCKETS = "f"
    SERVER_SIDE_EMIT = "s"
    # Answers, on the stream of the server that asked.
    CLIENT_COUNT = "cc"
    ACK = "a"
    SOCKETS = "fs"
    SERVER_SIDE_ANSWER = "sa"


class MalformedMessage(ValueError):
    """An entry this version cannot read (another program's, or a newer version's)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message between servers: ``body`` is JSON with ``bytes`` allowed."""

    kind: Kind
    node: str
    namespace: str
    body: dict[str, Any]


def encode(message: Message) -> dict[bytes, bytes]:
    """The stream entry's fields."""
    attachments: list[bytes] = []
    try:
        # Most bodies hold no bytes: orjson refuses those, and only then is the body walked.
        data = orjson.dumps(message.body)
    except TypeError:
        data = jsoncodec.dumps(deconstruct_binary(message.body, attachments)).encode()
    fields = {
        b"k": message.kind.value.encode(),
        b"u": message.node.encode(),
        b"n": message.namespace.encode(),
        b"d": data,
    }
    for index, attachment in enumerate(attachments):
        fields[b"b%d" % index] = attachment
    return fields


def sender(entry: Mapping[Any, Any]) -> bytes | None:
    """The id of the server that sent an entry, read without decoding the rest."""
    node = entry.get(b"u")
    return node if isinstance(node, bytes) else None


def decode(entry: Mapping[Any, Any]) -> Message:
    """The message of an entry's fields (bytes, as a client with bytes replies gives
    them); raises :class:`MalformedMessage`."""
    fields: Mapping[Any, Any] = entry
    if b"k" not in fields:
        fields = {_bytes(key): _bytes(value) for key, value in entry.items()}
    try:
        kind = Kind(fields[b"k"].decode())
        node = fields[b"u"].decode()
        namespace = fields[b"n"].decode()
        body = jsoncodec.loads(fields[b"d"])
        if b"b0" in fields:
            attachments: list[bytes] = []
            while (attachment := fields.get(b"b%d" % len(attachments))) is not None:
                attachments.append(attachment)
            body = reconstruct_binary(body, attachments)
    except (KeyError, ValueError, UnicodeDecodeError, SocketIOProtocolError) as exc:
        raise MalformedMessage(f"not an adapter message: {exc!r}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("an adapter message's body is an object")
    return Message(kind, node, namespace, body)


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def text(value: str | bytes) -> str:
    """A stream id or key as text, whichever way the client returned it."""
    return value.decode() if isinstance(value, bytes) else value


# Parts of bodies ----------------------------------------------------------------------


def options_body(opts: BroadcastOptions) -> dict[str, Any]:
    flags = opts.flags
    return {
        "rooms": sorted(opts.rooms),
        "except": sorted(opts.except_),
        "volatile": flags.volatile,
        "timeout": flags.timeout,
    }


def options_of(body: Any) -> BroadcastOptions:
    """The options a body carries (``local`` never crosses: it means "not the others")."""
    if not isinstance(body, dict):
        raise MalformedMessage("broadcast options are an object")
    timeout = body.get("timeout")
    return BroadcastOptions(
        frozenset(_strings(body.get("rooms"))),
        frozenset(_strings(body.get("except"))),
        BroadcastFlags(
            volatile=body.get("volatile") is True,
            timeout=float(timeout) if isinstance(timeout, int | float) else None,
        ),
    )


def packet_body(packet: Packet) -> dict[str, Any]:
    return {"type": int(packet.type), "data": packet.data}


def packet_of(body: Any, namespace: str) -> Packet:
    """The packet a body carries, without an ack id (each server gives its own)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedMessage("a packet is an object with a data list")
    try:
        packet_type = PacketType(int(body.get("type", -1)))
    except (TypeError, ValueError):
        raise MalformedMessage(f"unknown packet type {body.get('type')!r}") from None
    return Packet(packet_type, namespace, body["data"])


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MalformedMessage("rooms are a list of names")
    return value
