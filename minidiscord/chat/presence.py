"""Who is online: the live sockets of each user, so several tabs count as one user."""

from collections.abc import Mapping
from types import MappingProxyType

from .models import Role, User


class Presence:
    """Maps userId to that user and the ids of their live sockets.

    A user is online while they have at least one socket; the transitions (first socket
    in, last socket out) are what the chat announces to others.
    """

    def __init__(self) -> None:
        self._sockets: dict[str, set[str]] = {}
        self._users: dict[str, User] = {}
        self._users_view = MappingProxyType(self._users)

    def add(self, user: User, socket_id: str) -> bool:
        """Record a live socket; True when this brings the user online."""
        sockets = self._sockets.setdefault(user.user_id, set())
        came_online = not sockets
        if came_online:
            self._users[user.user_id] = user
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
        del self._users[user_id]
        return True

    def forget(self, user_id: str) -> frozenset[str]:
        """Drop a user entirely (they left); returns the sockets they still had."""
        self._users.pop(user_id, None)
        return frozenset(self._sockets.pop(user_id, ()))

    def set_role(self, user_id: str, role: Role) -> None:
        """An online user's role changed (the users list shows the new one)."""
        user = self._users.get(user_id)
        if user is not None:
            self._users[user_id] = User(user.user_id, user.username, user.avatar, user.seq, role)

    def is_online(self, user_id: str) -> bool:
        return user_id in self._sockets

    def sockets_of(self, user_id: str) -> frozenset[str]:
        return frozenset(self._sockets.get(user_id, ()))

    def online(self) -> frozenset[str]:
        return frozenset(self._sockets)

    def users(self) -> Mapping[str, User]:
        """The online users by userId: a live read-only view (no copy per connect)."""
        return self._users_view

    def __len__(self) -> int:
        """How many users are online."""
        return len(self._sockets)
