"""`user:leave`: a guest's user removed for good (its tabs end, everyone hears
`user:leave`), an account's login session ended (its user stays, offline), or a turned-away
client let go.

    user:leave  ()  {ok}; the leaver is disconnected after its ack

A leaver without an ack callback (the original React client) is told of a refusal by a
System line in every channel instead.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from minidiscord.sockets import Socket, ack_requested

from . import notices
from .accounts.service import AccountError, Accounts
from .feed import Feed
from .identity import LOGIN
from .models import CHANNELS, User
from .presence import Presence
from .requests import Ack, Handler, refuse
from .store import Store
from .store.base import StoreWriteError
from .turnedaway import TURNED_AWAY, disconnect

log = logging.getLogger(__name__)

# socket.data key of a socket whose `user:leave` is being committed (cluster mode): the log
# reader leaves its disconnect to the leave handler, which acks first.
LEAVING = "leaving"


class Roster(Protocol):
    """What a leave changes on this node beyond the store (ChatServer)."""

    def removed(self, user_id: str) -> None:
        """The user is gone from the store: a connect snapshot read meanwhile is read
        again, and a dropped socket of theirs is not recovered as them."""
        ...

    def end_tabs(
        self, user: User, *, spared: Callable[[Socket], bool], also: Socket | None = None
    ) -> None: ...


class LeaveEvents:
    def __init__(
        self,
        store: Store,
        roster: Roster,
        presence: Presence,
        *,
        accounts: Accounts | None,
        feed: Feed | None,
        forget_reads: Callable[[str], Awaitable[None]],
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._roster = roster
        self._presence = presence
        self._accounts = accounts
        self._feed = feed
        # A user who left has no read positions to keep.
        self._forget_reads = forget_reads
        self._clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {"user:leave": self._on_leave}

    async def _on_leave(self, socket: Socket, *args: Any) -> Ack:
        ack = await self._leave(socket)
        if not ack["ok"] and not ack_requested() and "user" in socket.data:
            # Which channel the leaver is looking at is unknown: the line goes to each.
            line = notices.system_message(notices.not_left(ack["error"]), self._clock())
            for channel in CHANNELS:
                socket.emit("message:channel", channel, line)
        return ack

    async def _leave(self, socket: Socket) -> Ack:
        user: User | None = socket.data.get("user")
        if user is None and TURNED_AWAY in socket.data:
            # Leaving is how the original client goes back to its login page to try again.
            socket.start_soon(disconnect, socket)
            return {"ok": True}
        if user is None:
            return refuse(socket, "user:leave", "not connected")
        login: bytes | None = socket.data.get(LOGIN)
        if login is not None and self._accounts is not None:
            # An account's user stays (its name, its messages): leaving logs this session
            # out, which lets its sockets go and the user goes offline.
            try:
                await self._accounts.end_login(login)
            except AccountError as error:
                return {"ok": False, "error": error.message}
            socket.start_soon(disconnect, socket)
            return {"ok": True}
        if self._feed is not None:
            return await self._leave_through_log(socket, user)
        try:
            await self._store.delete_user(user.user_id)
        except StoreWriteError as exc:
            log.warning("user %s could not leave: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not end your session"}
        self._roster.removed(user.user_id)
        await self._forget_reads(user.user_id)
        # The user's other tabs end too: the user they speak for is gone.
        self._roster.end_tabs(user, also=socket, spared=lambda own: own is socket)
        # The leaver's own disconnect comes after this handler's ack, which a client that
        # asked for one would otherwise never see.
        socket.start_soon(disconnect, socket)
        log.debug("user %s (%s) left", user.user_id, user.username)
        return {"ok": True}

    async def _leave_through_log(self, socket: Socket, user: User) -> Ack:
        """Cluster mode: the store appends `leave` as it deletes the user; every node's
        reader then ends the user's tabs there and tells the others."""
        assert self._feed is not None
        socket.data[LEAVING] = True
        try:
            await self._store.delete_user(user.user_id)
        except StoreWriteError as exc:
            socket.data.pop(LEAVING, None)
            log.warning("user %s could not leave: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not end your session"}
        await self._forget_reads(user.user_id)
        # Bounded: if the reader is stuck, the leave is durable and shown later.
        await self._feed.caught_up()
        socket.data.pop("user", None)
        socket.data.pop(LEAVING, None)
        self._presence.remove(user.user_id, socket.id)
        self._feed.depart(socket.id)
        socket.start_soon(disconnect, socket)
        log.debug("user %s (%s) left", user.user_id, user.username)
        return {"ok": True}
