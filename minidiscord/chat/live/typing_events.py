"""`typing:start` {channel}: the typing indicators' event, and the task that sends the
channels' `typing` {channel, typing: [{userId, username}...]} snapshots (see typists.py).

Snapshots go to the channel's room, volatile (a client that cannot take one now misses it
and gets the next), never kept for recovery; all but the one that empties the list, which
no next one would mend: it is sent (and kept) as any event. A socket's starts are
rate-limited; a user stops typing in a channel when a message of theirs is shown there,
when the socket that started goes, or when they leave.

Every node keeps its own Typists and sends snapshots to its own sockets. A start that
changes who types (or was not shared for SHARE_EVERY seconds) and a typist's socket going
are shared as chat effects (``share``, the chat's moderate: applied at once on one node,
through the log on every node of a cluster); a refresh in between stays on its node.
"""

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import BroadcastOperator, Namespace, Socket

from ..models import User
from ..moderation.effects import Do
from ..requests import Ack, refuse
from ..store.base import StoreWriteError
from ..validation import Invalid
from .typists import Typist, Typists

log = logging.getLogger(__name__)

EVENT = "typing:start"
EFFECT = Do.TYPING.value

# A socket's `typing:start`s: the web client sends one per 2 s while typing; a burst
# covers switching channels.
START_RATE = Rate(burst=5, per_second=1.0)


class TypingEvents:
    def __init__(
        self,
        namespace: Namespace,
        share: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        check: Callable[[str, object], str],
        audience: Callable[[str], BroadcastOperator],
        typists: Typists | None = None,
    ) -> None:
        """``check``: the chat's one access check (the channel id if the user may post in
        it, else Invalid); ``audience``: who a channel's messages go to."""
        self._ns = namespace
        self._share = share
        self._check = check
        self._audience = audience
        self._typists = typists or Typists()
        self._starts = KeyedBuckets(START_RATE)
        self._woken = trio.Event()

    def handlers(self) -> dict[str, Any]:
        return {EVENT: self._on_start}

    async def _on_start(self, socket: Socket, *args: Any) -> Ack:
        user: User | None = socket.data.get("user")
        if user is None:
            return refuse(socket, EVENT, "not connected")
        if len(args) != 1 or not isinstance(args[0], dict):
            return refuse(socket, EVENT, "expected one object argument {channel}")
        try:
            channel = self._check(user.user_id, args[0].get("channel"))
        except Invalid as error:
            return refuse(socket, EVENT, error.reason)
        now = trio.current_time()
        wait = self._starts.take(socket.id, now)
        if wait:
            ack = refuse(
                socket, EVENT, "you are sending typing:start too fast", label="rate limited"
            )
            ack["retryAfter"] = math.ceil(wait * 1000)
            return ack
        typist = Typist(user.user_id, user.username)
        if not self._typists.to_share(channel, user.user_id, now):
            self._typists.start(channel, typist, socket.id, now, shared=False)
            return {"ok": True}
        effect = {"do": EFFECT, "channel": channel, "source": socket.id, **typist.wire()}
        try:
            await self._share(effect)
        except StoreWriteError as exc:
            log.warning("a typing:start was not shared: %s", exc)
            return {"ok": False, "error": "the server could not pass this on now"}
        return {"ok": True}

    def apply(self, effect: Mapping[str, Any]) -> None:
        """A typing effect on this node: a start (with the channel and typist) or a socket's
        typing ended (its source alone)."""
        source, channel = effect.get("source"), effect.get("channel")
        user_id, username = effect.get("userId"), effect.get("username")
        if not isinstance(source, str):
            log.warning("a typing effect could not be applied: %r", effect)
        elif channel is None:
            self._typists.drop_source(source)
        elif isinstance(channel, str) and isinstance(user_id, str) and isinstance(username, str):
            self._typists.start(channel, Typist(user_id, username), source, trio.current_time())
        else:
            log.warning("a typing effect could not be applied: %r", effect)
        self._woken.set()

    # -- the chat's hooks ---------------------------------------------------------------

    def message_shown(self, channel: str, user_id: str) -> None:
        # Most messages come from someone not shown typing: waking the snapshot task for
        # each of them was a task switch per message for nothing.
        if self._typists.stop(channel, user_id):
            self._woken.set()

    def typing_from(self, socket_id: str) -> bool:
        """Whether ``socket_id`` started typing that is still shown."""
        return self._typists.has_source(socket_id)

    async def socket_gone(self, socket_id: str) -> None:
        if not self._typists.has_source(socket_id):
            return
        try:
            await self._share({"do": EFFECT, "source": socket_id})
        except StoreWriteError as exc:
            # The other nodes let it expire.
            log.warning("the end of a typist's socket was not shared: %s", exc)
            self._typists.drop_source(socket_id)
            self._woken.set()

    def user_gone(self, user_id: str) -> None:
        self._typists.drop_user(user_id)
        self._woken.set()

    # -- the snapshots ------------------------------------------------------------------

    async def run(self) -> None:
        """Send each channel's snapshot when due, until cancelled (the chat's nursery)."""
        while True:
            wake = self._typists.next_wake()
            with trio.move_on_at(math.inf if wake is None else wake):
                await self._woken.wait()
            self._woken = trio.Event()
            for channel, typists in self._typists.due(trio.current_time()).items():
                audience = self._audience(channel)
                # A list that empties is the last of its run: no later one would mend its
                # loss, and a client would show the typists for 12 s more.
                sender = audience.volatile if typists else audience
                sender.emit("typing", {"channel": channel, "typing": [t.wire() for t in typists]})
