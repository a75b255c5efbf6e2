"""The WebSocket transport: one reader and one writer task per connection, and the upgrade."""

import logging

import trio

from ..protocol import engineio
from ..protocol.engineio import PacketType
from ..protocol.errors import EngineIOProtocolError
from .asgi_io import Message, Receive, Send
from .session import EngineSession

logger = logging.getLogger("minidiscord.engine")

PROBE = "probe"


class _ClientLeft(Exception):
    """The WebSocket closed during an upgrade."""


def _frame_of(message: Message) -> str | bytes | None:
    """The payload of a ``websocket.receive`` message (None for any other message)."""
    if message["type"] != "websocket.receive":
        return None
    text = message.get("text")
    if text is not None:
        return str(text)
    data = message.get("bytes")
    return bytes(data) if data is not None else b""


async def carry(session: EngineSession, receive: Receive, send: Send) -> None:
    """Carry a session over an accepted WebSocket until either of them ends."""
    client_gone = False

    async def read() -> None:
        nonlocal client_gone
        client_gone = await _read(session, receive)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        with trio.CancelScope() as scope:
            session.writer_scope = scope
            if not session.closed or session.flush_on_close:
                await _write(session, send)
        session.writer_scope = None
        nursery.cancel_scope.cancel()
    try:
        if not client_gone:
            # Ends the transport, not the Socket.IO session: standard clients reconnect.
            await send({"type": "websocket.close", "code": 1000})
    finally:
        session.mark_flushed()


async def _write(session: EngineSession, send: Send) -> None:
    # Everything already queued is sent in one go: a burst costs the writer one wake-up.
    outgoing = session.outgoing
    async for frame in outgoing:
        while True:
            if isinstance(frame, str):
                await send({"type": "websocket.send", "text": frame})
            else:
                await send({"type": "websocket.send", "bytes": frame})
            try:
                frame = outgoing.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break


async def _read(session: EngineSession, receive: Receive) -> bool:
    """Feed the client's packets to the session; True when the client went away."""
    max_payload = session.config.max_payload
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            session.close("transport close", flush=False)
            return True
        frame = _frame_of(message)
        if frame is None:
            continue
        if len(frame) > max_payload:
            session.refuse("payload too large", f"message over {max_payload} bytes")
            return False
        try:
            packet = engineio.decode_packet(frame)
        except EngineIOProtocolError as exc:
            session.refuse("bad packet", str(exc))
            return False
        await session.receive_packet(packet)
        if session.closed:
            return False


async def upgrade(session: EngineSession, receive: Receive, send: Send) -> bool:
    """Run the probe/upgrade exchange on a new WebSocket for a polling session.

    True when the WebSocket now carries the session; False when the upgrade failed
    (the session goes on over polling and this WebSocket should be closed).
    """
    session.upgrading = True
    try:
        with trio.move_on_after(session.config.upgrade_timeout):
            if await _next_frame(receive) != f"{PacketType.PING.value}{PROBE}":
                return False
            await send({"type": "websocket.send", "text": f"{PacketType.PONG.value}{PROBE}"})
            # A poll the client still has pending must return so it can pause polling.
            session.release_poll()
            while True:
                frame = await _next_frame(receive)
                if frame == str(PacketType.UPGRADE.value):
                    break
                if frame != engineio.NOOP_FRAME:
                    return False
            # Packets of a POST still being handled go first; then the WebSocket takes over.
            async with session.dispatch_lock:
                if session.closed:
                    return False
                session.switch_to_websocket()
            return True
        logger.info("upgrade of %s timed out", session.sid)
        return False
    except _ClientLeft:
        return False
    finally:
        session.upgrading = False


async def _next_frame(receive: Receive) -> str | bytes:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            raise _ClientLeft
        frame = _frame_of(message)
        if frame is not None:
            return frame
