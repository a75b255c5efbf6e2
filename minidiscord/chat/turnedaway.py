"""Turned away: a client refused at connect that may not read CONNECT_ERROR, let in without
joining so that it can be told why (see ChatServer's docstring).

The chat keeps that state in ``socket.data`` (the reason), so nothing below the chat knows
of it.
"""

import logging

import trio

from minidiscord.sockets import Socket
from minidiscord.sockets.reasons import SocketsRejectLabel

from . import notices
from .models import CHANNELS

log = logging.getLogger(__name__)

# How long a client turned away at connect stays to read why: it holds a connection the
# whole time, and the original React client goes back to its login page when let go.
TURNED_AWAY_SECONDS = 60.0
# socket.data key of a turned-away socket: why it was not let in.
TURNED_AWAY = "turned_away"


def turn_away(socket: Socket, reason: str, now_ms: int) -> None:
    """Let in, without joining, a client that may not read CONNECT_ERROR (the original
    React client shows the chat once connected and nothing of a refusal): every channel
    holds one System line saying why, and the server lets it go after a while or at its
    `user:leave`. It is no user: it gets no history, no users, and can send nothing."""
    log.info("turned away socket %s: %s", socket.id, reason)
    socket.namespace.metrics.reject(SocketsRejectLabel.CONNECT_REFUSED)
    socket.data[TURNED_AWAY] = reason
    line = notices.system_message(notices.not_joined(reason), now_ms)
    socket.emit("channels", [{"name": name, "messages": [line]} for name in CHANNELS])
    socket.start_soon(_let_go, socket)


def not_joined(socket: Socket) -> str:
    """Why a socket that is no user may not do what it asked."""
    turned_away: str | None = socket.data.get(TURNED_AWAY)
    return "not connected" if turned_away is None else f"you have not joined: {turned_away}"


async def disconnect(socket: Socket) -> None:
    """``socket.start_soon(disconnect, socket)``: after the ack of the handler running now."""
    socket.disconnect()


async def _let_go(socket: Socket) -> None:
    await trio.sleep(TURNED_AWAY_SECONDS)
    socket.disconnect()
