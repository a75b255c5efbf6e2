"""Connection state recovery across servers: sessions kept in Redis, and the packets a
session missed read back from the adapter's stream.

An offset is the stream id of the broadcast entry that carried the packet, the same on
every server, so a client may come back to any of them. The packets a session missed are
those after its offset that this server delivered to its own sockets before the socket
comes back (the ones after that reach it live, as it is back in its rooms): the entries of
other servers up to where this server's reader is, and this server's own broadcasts up to
the last it delivered. Reading stops at exactly that point, with no await between the
check and the return, so none is given twice or not at all.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..protocol.engineio import Frame
from ..protocol.socketio import Packet, PacketType
from ..sockets import BroadcastOptions, Session
from ..sockets.packets import frames_of
from ..sockets.recovery import reaches, stamped
from .adapter_codec import Kind, MalformedMessage, decode, options_of, packet_of, text
from .adapter_node import STREAM_ID, AdapterNode, id_key
from .connection import bounded
from .sessions import take_session

if TYPE_CHECKING:
    from ..sockets import Namespace

# XRANGE calls one restore may make (each of up to READ_COUNT entries) before giving up.
MAX_READS = 100
READ_COUNT = 1_000


def recoverable(namespace: "Namespace", packet: Packet, opts: BroadcastOptions) -> bool:
    """Whether a broadcast gets an offset (as the reference: not one with an ack, which a
    new connection cannot answer, nor a volatile one, which may be lost anyway)."""
    return (
        namespace.recovery is not None
        and packet.type is PacketType.EVENT
        and packet.id is None
        and not opts.flags.volatile
    )


async def restore(
    node: AdapterNode, namespace: "Namespace", pid: str, offset: str
) -> Session | None:
    """The session ``pid`` (taken from Redis: at most once) with the frames it missed since
    ``offset``; None when it cannot be recovered."""
    recovery = namespace.recovery
    client = node.client
    if recovery is None or client is None or not node.reading:
        return None
    timeout = node.options.call_timeout
    session = await take_session(client, node.keys.session(pid), timeout)
    if session is None or not STREAM_ID.fullmatch(offset):
        return None
    stream = node.keys.stream
    with bounded("finding a session's offset", timeout):
        # Gone from the stream: what came after it may have been trimmed too.
        if not await client.xrange(stream, offset, offset):
            return None
    entries: list[tuple[str, bool, Packet, BroadcastOptions]] = []
    cursor = offset
    for _ in range(MAX_READS):
        if id_key(cursor) >= id_key(_delivered_up_to(node)):
            return _missed(node, namespace, session, entries)
        with bounded("reading what a session missed", timeout):
            read = await client.xrange(stream, f"({cursor}", "+", count=READ_COUNT)
        if not read:
            return _missed(node, namespace, session, entries)
        for entry in read:
            cursor = text(entry.identifier)
            kept = _broadcast(namespace, entry.field_values)
            if kept is not None:
                own, packet, opts = kept
                entries.append((cursor, own == node.uid, packet, opts))
    return None


def _delivered_up_to(node: AdapterNode) -> str:
    read, own = node.read_position, node.own_position
    return read if id_key(read) >= id_key(own) else own


def _broadcast(namespace: "Namespace", fields: Any) -> tuple[str, Packet, BroadcastOptions] | None:
    try:
        message = decode(fields)
        if message.kind is not Kind.BROADCAST or message.namespace != namespace.name:
            return None
        packet = packet_of(message.body.get("packet"), namespace.name)
        opts = options_of(message.body.get("opts"))
    except MalformedMessage:
        return None
    if not recoverable(namespace, packet, opts):
        return None
    return message.node, packet, opts


def _missed(
    node: AdapterNode,
    namespace: "Namespace",
    session: Session,
    entries: Sequence[tuple[str, bool, Packet, BroadcastOptions]],
) -> Session | None:
    recovery = namespace.recovery
    assert recovery is not None
    read, own_up_to = id_key(node.read_position), id_key(node.own_position)
    missed: list[tuple[Frame, ...]] = []
    for entry_id, own, packet, opts in entries:
        position = id_key(entry_id)
        if position > (own_up_to if own else read) or not reaches(session.rooms, opts):
            continue
        if len(missed) == recovery.max_missed_packets:
            return None
        missed.append(frames_of(stamped(packet, entry_id)))
    return Session(session.sid, session.pid, session.rooms, session.data, missed)
