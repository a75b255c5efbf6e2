"""The Socket.IO layer's own words for why a socket left and why a client was refused.

``StrEnum``s, like the engine's :class:`~minidiscord.engine.reasons.CloseReason`: a member
is its string, so disconnect handlers, logs and metric labels read the words themselves. A
socket's disconnect reason is one of these or the engine's reason for closing the
connection under it.
"""

from enum import StrEnum

from ..engine.reasons import CloseReason


class NamespaceLeft(StrEnum):
    """A socket left its namespace while the connection went on (the reference's words)."""

    # The server called socket.disconnect().
    SERVER_DISCONNECT = "server namespace disconnect"
    # The client sent a DISCONNECT packet for the namespace.
    CLIENT_DISCONNECT = "client namespace disconnect"


DisconnectReason = NamespaceLeft | CloseReason


class SocketsRejectLabel(StrEnum):
    """The ``rejected`` metric's label for what the Socket.IO layer refused."""

    CONNECT_TIMEOUT = "connect timeout"
    INCOMPLETE_ATTACHMENTS = "incomplete attachments"
    PARSE_ERROR = "parse error"
    INVALID_NAMESPACE = "invalid namespace"
    CONNECT_REFUSED = "connect refused"
