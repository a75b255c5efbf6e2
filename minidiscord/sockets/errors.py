"""Errors an application raises or receives through the Socket.IO API."""

from typing import Any


class ConnectionRefused(Exception):
    """Raised by a connect middleware or a ``connect`` handler to reject the client with
    ``CONNECT_ERROR {"message": message, "data": data}`` (``data`` left out when None)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckTimeout(Exception):
    """The client did not acknowledge an emit within its timeout."""


class BroadcastAckTimeout(AckTimeout):
    """Some recipients of a broadcast did not acknowledge it within its timeout.

    ``responses`` holds the answers that did arrive (one per client that answered, in the
    order they came), ``missing`` how many recipients did not answer.
    """

    def __init__(self, message: str, responses: list[Any], missing: int) -> None:
        super().__init__(message)
        self.responses = responses
        self.missing = missing


class ServerSideEmitTimeout(Exception):
    """Some of the other servers did not answer a server-side emit in time; ``responses``
    holds the answers that did arrive."""

    def __init__(self, message: str, responses: list[Any]) -> None:
        super().__init__(message)
        self.responses = responses
