"""The acks of the live events: a refusal is logged at INFO, counted, and answered."""

import logging
from typing import Any

from minidiscord.sockets import Socket

log = logging.getLogger(__name__)

Ack = dict[str, Any]


def refused(socket: Socket, event: str, reason: str, *, label: str = "invalid event") -> Ack:
    log.info("refused %s from socket %s: %s", event, socket.id, reason)
    socket.namespace.metrics.reject(label)
    return {"ok": False, "error": reason}
