"""The WebSocket transport: a writer and a reader per connection, and the upgrade."""

import functools
import logging
from collections.abc import Callable

import trio

from ..asgi_io import SEND_MANY, DirectSend, HandTo, Message, Receive, Send
from ..protocol import engineio
from ..protocol.engineio import Frame, PacketType
from ..protocol.errors import EngineIOProtocolError
from .directwrites import DirectWrites
from .outbox import Outbox
from .reasons import CloseReason, RejectLabel
from .session import EngineSession

logger = logging.getLogger("minidiscord.engine")

PROBE = "probe"
# The close code a front end reports when it refused a message over its size limit.
MESSAGE_TOO_BIG = 1009


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


async def carry(
    session: EngineSession,
    receive: Receive,
    send: Send,
    *,
    batch: bool,
    direct: DirectSend | None = None,
    writes: DirectWrites | None = None,
    hand_to: HandTo | None = None,
) -> None:
    """Carry a session over an accepted WebSocket until either of them ends.

    With ``batch`` (the front end offers :data:`SEND_MANY`) every frame taken from the
    outbox goes to the front end in one message. With ``direct`` as well (it offers
    :data:`~minidiscord.asgi_io.DIRECT_SEND`), the rounds of ``writes`` write broadcasts to
    the socket while the writer is idle (see :mod:`.outbox`). With ``hand_to`` (it offers
    :data:`~minidiscord.asgi_io.RECEIVE_HANDLER`) the front end's task applies the client's
    messages; otherwise a task of the session's reads them.
    """
    if not batch or direct is None or writes is None:
        # The outbox's direct sends take both or neither.
        direct = writes = None
    if hand_to is not None:
        # Dropping the session (close without flush) cancels the writer; the front end's
        # task stops applying messages as the session closes.
        with trio.CancelScope() as scope:
            session.websocket_started(scope)
            await hand_to(functools.partial(_take_unless_closed, session))
            try:
                if not session.closed or session.flush_on_close:
                    await write_outbox(session.outbox, send, batch, direct, writes, session.wrote)
            finally:
                await hand_to(None)
    else:
        async with trio.open_nursery() as nursery:
            # Dropping the session (close without flush) cancels both directions at once.
            session.websocket_started(nursery.cancel_scope)
            nursery.start_soon(_read, session, receive)
            if not session.closed or session.flush_on_close:
                await write_outbox(session.outbox, send, batch, direct, writes, session.wrote)
            nursery.cancel_scope.cancel()
    session.websocket_ended()
    try:
        if not session.client_gone:
            # Bounded: a client that does not read must not hold the connection with it.
            with session.writing():
                # Ends the transport, not the Socket.IO session: standard clients reconnect.
                await send({"type": "websocket.close", "code": 1000})
    finally:
        session.mark_flushed()


async def write_outbox(
    outbox: Outbox,
    send: Send,
    batch: bool,
    direct: DirectSend | None = None,
    writes: DirectWrites | None = None,
    wrote: Callable[[list[Frame]], None] | None = None,
) -> None:
    """A connection's writer: what ``outbox`` holds, to ``send``, until it is closed and
    drained; ``wrote`` hears of each batch once written. (Also the writer of the floor app,
    ``scripts/floor_hypercorn.py``, which has no session.)"""
    # Everything already queued is sent in one go: a burst costs the writer one wake-up.
    while True:
        frames = await outbox.take(direct, writes)
        if not frames:
            if outbox.closed:
                return
            # Woken with nothing: a direct send left part of a frame with the front end,
            # and the socket is this task's until it is written.
            await send({"type": SEND_MANY, "frames": ()})
        elif batch:
            await send({"type": SEND_MANY, "frames": frames})
        else:
            for frame in frames:
                if isinstance(frame, str):
                    await send({"type": "websocket.send", "text": frame})
                else:
                    await send({"type": "websocket.send", "bytes": frame})
        if wrote is not None:
            wrote(frames)
        # Not held while parked in take(): an idle connection would keep its last batch
        # (after a connect storm, the newest users' whole `users` lists) for as long as
        # nothing else is sent to it.
        del frames


async def _read(session: EngineSession, receive: Receive) -> None:
    """Feed the client's packets to the session until either side ends."""
    while await _take(session, await receive()):
        pass


async def _take_unless_closed(session: EngineSession, message: Message) -> None:
    """The session's RECEIVE_HANDLER: what :func:`_read` does with each message, while the
    session is open (and the client's leaving after, which spares it our close)."""
    try:
        if not session.closed:
            await _take(session, message)
        elif message["type"] == "websocket.disconnect":
            session.websocket_client_left()
    except Exception:
        # Our bug, not the client's: raised into the front end's task, it would end the
        # connection with a line that hides where it came from.
        logger.exception("reading a message from %s failed", session.sid)
        session.close(CloseReason.SERVER_ERROR, flush=False)


async def _take(session: EngineSession, message: Message) -> bool:
    """Apply one message of the WebSocket to the session; False once no more is read."""
    max_payload = session.config.max_payload
    if message["type"] == "websocket.disconnect":
        session.websocket_client_left()
        if message.get("code") == MESSAGE_TOO_BIG:
            # The front end stopped reading a message over its limit (ours + 1).
            session.refuse(RejectLabel.PAYLOAD_TOO_LARGE, f"message over {max_payload} bytes")
        else:
            session.close(CloseReason.TRANSPORT_CLOSE, flush=False)
        return False
    frame = _frame_of(message)
    if frame is None:
        return True
    if len(frame) > max_payload:
        session.refuse(RejectLabel.PAYLOAD_TOO_LARGE, f"message over {max_payload} bytes")
        return False
    try:
        packet = engineio.decode_packet(frame)
    except EngineIOProtocolError as exc:
        session.refuse(RejectLabel.BAD_PACKET, str(exc))
        return False
    await session.receive_packet(packet)
    return not session.closed


async def upgrade(session: EngineSession, receive: Receive, send: Send) -> bool:
    """Run the probe/upgrade exchange on a new WebSocket for a polling session that
    :meth:`~EngineSession.begin_upgrade` reserved.

    True when the WebSocket now carries the session; False when the upgrade failed
    (the session goes on over polling and this WebSocket should be closed).

    The client has ``upgrade_timeout`` from the WebSocket's acceptance to send its probe.
    It sends UPGRADE only once its own pending poll and POST are answered, which a busy
    server may take long to do, so that wait is a whole heartbeat cycle (as long as any
    client may be silent). Timing out there would also strand standard clients: one that
    has paused polling to upgrade does not resume it when the upgrade fails.
    """
    timeout = session.config.upgrade_timeout
    try:
        if await _client_frame(receive, timeout) != f"{PacketType.PING.value}{PROBE}":
            return False
        await send({"type": "websocket.send", "text": f"{PacketType.PONG.value}{PROBE}"})
        # A poll the client still has pending must return so it can pause polling.
        session.probe_answered()
        config = session.config
        while True:
            frame = await _client_frame(receive, config.ping_interval + config.ping_timeout)
            if frame == str(PacketType.UPGRADE.value):
                break
            if frame != engineio.NOOP_FRAME:
                return False
        # Packets of a POST still being handled go first; then the WebSocket takes over.
        async with session.dispatch_lock:
            if session.closed:
                return False
            session.finish_upgrade()
        return True
    except trio.TooSlowError:
        logger.info("upgrade of %s timed out", session.sid)
        return False
    except _ClientLeft:
        return False
    finally:
        session.end_upgrade()


async def _client_frame(receive: Receive, timeout: float) -> str | bytes:
    """The client's next frame, which it must send within ``timeout`` (TooSlowError)."""
    with trio.fail_after(timeout):
        return await _next_frame(receive)


async def _next_frame(receive: Receive) -> str | bytes:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            raise _ClientLeft
        frame = _frame_of(message)
        if frame is not None:
            return frame
