"""Typed errors for input the peer got wrong; each maps to the protocol's own answer."""


class ProtocolError(Exception):
    """The peer sent something the protocol does not allow."""


class EngineIOProtocolError(ProtocolError):
    """A malformed Engine.IO packet or polling payload."""


class SocketIOProtocolError(ProtocolError):
    """A malformed Socket.IO packet, attachment sequence or packet payload."""
