"""HTTP long-polling: a GET takes everything queued for the client, a POST brings packets in."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import trio

from ..asgi_io import (
    BODY_SECONDS,
    CLOSE_CONNECTION,
    BodyTooLarge,
    BodyTooSlow,
    ClientGone,
    Headers,
    Message,
    Receive,
    Send,
    body_within,
    discard_body,
    read_body,
    respond,
)
from ..limits import ByteBudgets
from ..protocol import engineio
from ..protocol.engineio import Frame
from ..protocol.errors import EngineIOProtocolError
from .errors import RequestRefused, TransportError
from .reasons import CloseReason, RejectLabel
from .session import EngineSession
from .state import TransportState

# A payload may hold many packets, but not unboundedly many tiny ones.
MAX_PACKETS_PER_PAYLOAD = 1000
# How much of an oversized body is read (and dropped) so the client can see the 413;
# past this the connection is simply closed.
DISCARD_LIMIT = 16 * 1024 * 1024
# How many packets of one POST are handled before the task lets others run.
YIELD_EVERY = 16


async def poll(session: EngineSession, receive: Receive, send: Send, headers: Headers) -> None:
    """Answer a GET with every queued frame, waiting for the first one if none is queued."""
    if not session.begin_poll():
        session.refuse(RejectLabel.OVERLAPPING_REQUESTS, "a second GET while one was pending")
        raise RequestRefused(TransportError.BAD_REQUEST, "overlapping GET requests")
    polling = True
    try:
        if session.state is TransportState.UPGRADING:
            # The client is moving to WebSocket (its probe is answered): this poll only
            # needs to return.
            polling = False
            session.end_poll()
            await respond(send, 200, engineio.NOOP_FRAME, headers=headers)
            return
        frames: list[Frame] = []
        ended = False
        try:
            async with trio.open_nursery() as nursery:
                # Cancelled by an upgrade, by an aborted session or by the client going
                # away, so that no frame is taken off the queue for a response nobody reads.
                session.poll_waiting(nursery.cancel_scope)
                nursery.start_soon(_cancel_when_client_leaves, receive, nursery.cancel_scope)
                taken, ended = await _take_frames(session)
                frames.extend(taken)
                nursery.cancel_scope.cancel()
        finally:
            session.poll_waiting(None)
        if not frames:
            # The upgrade finished while this poll waited: tell the client to stop polling.
            frames.append(engineio.NOOP_FRAME)
        # Over before its answer is written, as the reference's is (it answers and forgets
        # the request in one tick): writing yields, and a client that got the answer may
        # send its next GET on another connection, served before this task resumes.
        polling = False
        session.end_poll()
        # Cut off if the session drops the client meanwhile (one that does not read).
        with session.writing():
            await respond(send, 200, engineio.encode_payload(frames), headers=headers)
            session.wrote(frames)
            if ended:
                session.mark_flushed()
    finally:
        if polling:
            session.end_poll()


async def _take_frames(session: EngineSession) -> tuple[list[Frame], bool]:
    """Everything queued (waiting for the first frame); True once the session has ended."""
    frames = await session.outbox.take()
    if session.outbox.closed:
        return frames + _closing(session), True
    return frames, False


def _closing(session: EngineSession) -> list[Frame]:
    # The server tells the client it closed the session; a client that closed it itself
    # already knows, and its pending poll just returns (with a NOOP, as the reference does).
    return [] if session.close_reason is CloseReason.TRANSPORT_CLOSE else [engineio.CLOSE_FRAME]


async def _cancel_when_client_leaves(receive: Receive, scope: trio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


class _AddressBusy(Exception):
    """The client's address already has its budget's worth of bodies being read."""


@contextmanager
def _counted(receive: Receive, budget: ByteBudgets, session: EngineSession) -> Iterator[Receive]:
    """``receive``, with the body bytes it brings counted for the client's address until
    the body is read (raises _AddressBusy past the address's budget)."""
    key = session.request.address_key
    held = 0

    async def counted() -> Message:
        nonlocal held
        message = await receive()
        size = len(message.get("body", b""))
        if size:
            if not budget.hold(key, size):
                raise _AddressBusy
            held += size
        return message

    try:
        yield counted
    finally:
        budget.release(key, held)


async def post(
    session: EngineSession, receive: Receive, send: Send, headers: Headers, budget: ByteBudgets
) -> None:
    """Apply every packet of a POSTed payload, then answer ``ok``; the body counts against
    the address's ``budget`` while it is read."""
    if not session.begin_post():
        session.refuse(RejectLabel.OVERLAPPING_REQUESTS, "a second POST while one was pending")
        raise RequestRefused(TransportError.BAD_REQUEST, "overlapping POST requests")
    limit = session.config.max_payload
    # Whole within BODY_SECONDS however it trickles in (a maxPayload body of 1 MB needs
    # about 70 KB/s): like a request head, it cannot hold the request one byte at a time.
    timed = body_within(receive)
    try:
        try:
            with _counted(timed, budget, session) as counted:
                body = await read_body(counted, limit)
        except _AddressBusy:
            session.refuse(
                RejectLabel.ADDRESS_OVER_BUDGET, "request bodies of its address over budget"
            )
            await respond(send, 429, "Too Many Requests", headers=[*headers, CLOSE_CONNECTION])
            return
        except BodyTooLarge:
            session.refuse(RejectLabel.PAYLOAD_TOO_LARGE, f"POST body over {limit} bytes")
            with suppress(BodyTooSlow):
                await discard_body(timed, DISCARD_LIMIT)
            await respond(send, 413, "Payload Too Large", headers=headers)
            return
        except BodyTooSlow:
            session.refuse(
                RejectLabel.SLOW_BODY, f"POST body not complete within {BODY_SECONDS:g} s"
            )
            await respond(send, 408, "Request Timeout", headers=[*headers, CLOSE_CONNECTION])
            return
        except ClientGone:
            return
        try:
            packets = engineio.decode_payload(body, max_packets=MAX_PACKETS_PER_PAYLOAD)
        except EngineIOProtocolError as exc:
            session.refuse(RejectLabel.BAD_PACKET, f"bad payload: {exc}")
            raise RequestRefused(TransportError.BAD_REQUEST, str(exc)) from None
        async with session.dispatch_lock:
            for number, packet in enumerate(packets, 1):
                await session.receive_packet(packet)
                if number % YIELD_EVERY == 0:
                    # A payload may hold a thousand packets: let others run between them.
                    await trio.lowlevel.checkpoint()
        await respond(send, 200, "ok", content_type="text/html; charset=UTF-8", headers=headers)
    finally:
        session.end_post()
