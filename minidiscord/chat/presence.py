"""Who is online: the live sockets of each user, so several tabs count as one user."""


class Presence:
    """Maps userId to the ids of that user's live sockets.

    A user is online while they have at least one socket; the transitions (first socket
    in, last socket out) are what the chat announces to others.
    """

    def __init__(self) -> None:
        self._sockets: dict[str, set[str]] = {}

    def add(self, user_id: str, socket_id: str) -> bool:
        """Record a live socket; True when this brings the user online."""
        sockets = self._sockets.setdefault(user_id, set())
        came_online = not sockets
        sockets.add(socket_id)
        return came_online

    def remove(self, user_id: str, socket_id: str) -> bool:
        """Forget a closed socket; True when it was the user's last one."""
        sockets = self._sockets.get(user_id)
        if sockets is None or socket_id not in sockets:
            return False
        sockets.discard(socket_id)
        if sockets:
            return False
        del self._sockets[user_id]
        return True

    def forget(self, user_id: str) -> frozenset[str]:
        """Drop a user entirely (they left); returns the sockets they still had."""
        return frozenset(self._sockets.pop(user_id, ()))

    def is_online(self, user_id: str) -> bool:
        return user_id in self._sockets

    def sockets_of(self, user_id: str) -> frozenset[str]:
        return frozenset(self._sockets.get(user_id, ()))

    def online(self) -> frozenset[str]:
        return frozenset(self._sockets)
