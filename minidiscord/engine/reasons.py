"""Why a session closes and why the engine refuses a client: the words of logs and metrics.

Both are ``StrEnum``s: a member is its string, so log lines, metric labels and the reason
the layer above hands to its ``disconnect`` handlers read exactly as the words themselves.
"""

from enum import StrEnum


class CloseReason(StrEnum):
    """Why an Engine.IO session ended (the reference server's words where it has them)."""

    # The client did not answer a ping in time (or never came for it).
    PING_TIMEOUT = "ping timeout"
    # The client closed the session (a CLOSE packet) or its WebSocket went away.
    TRANSPORT_CLOSE = "transport close"
    # The client broke the transport's rules (a bad packet, an oversized payload...).
    TRANSPORT_ERROR = "transport error"
    # The client sent something the layer above could not decode.
    PARSE_ERROR = "parse error"
    # The layer above closed the session on purpose (a server-side disconnect).
    FORCED_CLOSE = "forced close"
    # The client does not read fast enough: what was queued for it is abandoned.
    SLOW_CONSUMER = "slow consumer"
    # A half-open session made room for a new one from its address (or the server).
    GAVE_WAY = "gave way"
    # The client went on sending over its packet budget after being told.
    FLOODING = "flooding"
    # Our bug while handling the client: this connection ends, the server goes on.
    SERVER_ERROR = "server error"
    SERVER_SHUTTING_DOWN = "server shutting down"


class RejectLabel(StrEnum):
    """The ``rejected`` metric's label for what the engine refused a client (a request
    answered with an HTTP error, or a session closed over what its client did)."""

    # Requests answered with one of the protocol's HTTP errors (see errors.TransportError).
    UNKNOWN_TRANSPORT = "unknown transport"
    UNKNOWN_SID = "unknown sid"
    BAD_HANDSHAKE_METHOD = "bad handshake method"
    BAD_REQUEST = "bad request"
    FORBIDDEN = "forbidden"
    UNSUPPORTED_PROTOCOL_VERSION = "unsupported protocol version"
    UNAVAILABLE = "unavailable"
    TOO_MANY = "too many"
    # Sessions closed over what their client did.
    OVERLAPPING_REQUESTS = "overlapping requests"
    ADDRESS_OVER_BUDGET = "address over budget"
    PAYLOAD_TOO_LARGE = "payload too large"
    SLOW_BODY = "slow body"
    BAD_PACKET = "bad packet"
    GAVE_WAY = "gave way"
    FLOODING = "flooding"
