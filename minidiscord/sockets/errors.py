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
