"""wsproto's server-side connection, minus the handshake once the handshake is over.

``wsproto.WSConnection`` keeps its ``H11Handshake`` for the connection's whole life: a
second h11 connection with its state machine and buffer, a copy of the upgrade request
and an event deque, about 3 KB that nothing reads after the upgrade is accepted. An idle
WebSocket is mostly such leftovers, so this one lets the handshake go once wsproto has
handed over the established connection and the handshake's last event was taken; until
then it does what ``WSConnection`` does.
"""

from collections.abc import Iterator

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import Event
from wsproto.handshake import H11Handshake
from wsproto.typing import Headers


class ServerWSConnection:
    """The server end of one WebSocket: the part of ``wsproto.WSConnection``'s interface
    the front end uses (:meth:`initiate_upgrade_connection`, :meth:`send`,
    :meth:`receive_data`, :meth:`events`), with the same behaviour."""

    __slots__ = ("_connection", "_handshake")

    def __init__(self) -> None:
        self._handshake: H11Handshake | None = H11Handshake(ConnectionType.SERVER)
        self._connection: Connection | None = None

    @property
    def handshake_done(self) -> bool:
        """The upgrade was accepted, its events were taken and the handshake's state
        released."""
        return self._handshake is None

    def initiate_upgrade_connection(self, headers: Headers, path: bytes | str) -> None:
        """Start from an upgrade request another parser already read."""
        assert self._handshake is not None
        self._handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """The bytes for ``event`` (an accept, a refusal, then frames)."""
        if self._connection is not None:
            return self._connection.send(event)
        assert self._handshake is not None
        data = self._handshake.send(event)
        self._established()
        return data

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes from the client."""
        if self._connection is not None:
            self._connection.receive_data(data)
            return
        assert self._handshake is not None
        self._handshake.receive_data(data)
        self._established()

    def events(self) -> Iterator[Event]:
        """The events the data fed so far makes (as ``WSConnection.events``)."""
        handshake = self._handshake
        if handshake is not None:
            yield from handshake.events()
            if self._connection is not None:
                # Accepted, and every event of the handshake taken: its h11 state and
                # request can go.
                self._handshake = None
        if self._connection is not None:
            yield from self._connection.events()

    def _established(self) -> None:
        if self._handshake is not None and self._connection is None:
            self._connection = self._handshake.connection
