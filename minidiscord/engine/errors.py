"""The Engine.IO HTTP errors: each is a 400/403 whose JSON body names the code."""

from enum import Enum

from .reasons import RejectLabel


class TransportError(Enum):
    """The error codes and messages of the Engine.IO protocol's HTTP answers."""

    UNKNOWN_TRANSPORT = (0, "Transport unknown", 400, RejectLabel.UNKNOWN_TRANSPORT)
    UNKNOWN_SID = (1, "Session ID unknown", 400, RejectLabel.UNKNOWN_SID)
    BAD_HANDSHAKE_METHOD = (2, "Bad handshake method", 400, RejectLabel.BAD_HANDSHAKE_METHOD)
    BAD_REQUEST = (3, "Bad request", 400, RejectLabel.BAD_REQUEST)
    FORBIDDEN = (4, "Forbidden", 403, RejectLabel.FORBIDDEN)
    UNSUPPORTED_PROTOCOL_VERSION = (
        5,
        "Unsupported protocol version",
        400,
        RejectLabel.UNSUPPORTED_PROTOCOL_VERSION,
    )
    # Not an Engine.IO code: the server takes no new sessions (full, or shutting down).
    UNAVAILABLE = (None, "Server unavailable", 503, RejectLabel.UNAVAILABLE)
    TOO_MANY = (None, "Too many requests", 429, RejectLabel.TOO_MANY)

    def __init__(self, code: int | None, message: str, status: int, label: RejectLabel) -> None:
        self.code = code
        self.message = message
        self.status = status
        # What the rejected-requests metric counts it under.
        self.label = label


class RequestRefused(Exception):
    """A transport request the engine answers with one of the protocol's HTTP errors."""

    def __init__(self, error: TransportError, detail: str = "") -> None:
        super().__init__(detail or error.message)
        self.error = error
        self.detail = detail
