"""Giving a reconnecting client its socket back (connection state recovery, see
:mod:`minidiscord.sockets.recovery`)."""

import logging
from typing import TYPE_CHECKING

from .socket import Handshake, Socket

if TYPE_CHECKING:
    from .client import Client
    from .namespace import Namespace

logger = logging.getLogger("minidiscord.sockets")


async def recover(client: "Client", namespace: "Namespace", handshake: Handshake) -> Socket | None:
    """The socket of the session the client's CONNECT auth names (``pid`` and ``offset``,
    both strings, as socket.io-client sends them), with its id, rooms and ``data``, and the
    packets it missed queued to follow the CONNECT answer; None when there is nothing to
    recover, and the client gets a new socket."""
    auth = handshake.auth
    if not isinstance(auth, dict):
        return None
    pid, offset = auth.get("pid"), auth.get("offset")
    if not isinstance(pid, str) or not isinstance(offset, str):
        return None
    try:
        session = await namespace.adapter.restore_session(pid, offset)
    except Exception:
        logger.exception("restoring session %s on %s failed", pid, namespace.name)
        return None
    if session is None:
        return None
    if session.sid in namespace.sockets:
        # The old socket is still leaving (its disconnecting handler runs): two sockets
        # with one id cannot share the namespace's rooms, so this one starts afresh.
        logger.info("%s: session %s is still leaving; not recovered", namespace.name, pid)
        return None
    socket = Socket(client, namespace, session.sid, handshake)
    socket.pid = session.pid
    socket.recovered = True
    socket.data = session.data
    socket.join(session.rooms)
    for frames in session.missed:
        socket.deliver(frames)
    return socket
