"""`message:channel:send`: a user's message checked, paid for, stored, then shown to the
channel in store order (on one node by the Sequencer, in cluster mode by the log reader).

    message:channel:send  (channel, text)  {ok, id}; everyone in the channel, the sender
                                           too, gets `message:channel` (channel, message)

A sender without an ack callback (the original React client) is told of a refusal by a
System line in that channel instead, since it reads nothing else.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import trio

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.sockets import Namespace, Socket, ack_requested

from . import notices, stages, validation
from .channels.registry import ChannelRegistry, Need
from .feed import Feed
from .live.mentions import Mentions
from .models import CHANNELS, Message, User
from .moderation.timeouts import Timeouts
from .ordering import Sequencer
from .requests import Ack, Handler, rate_limited, refuse
from .store import Store
from .store.base import StoreWriteError
from .turnedaway import TURNED_AWAY, not_joined
from .validation import Invalid

log = logging.getLogger(__name__)
# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_POST = Need.POST


class SendEvents:
    def __init__(
        self,
        ns: Namespace,
        store: Store,
        channels: ChannelRegistry,
        *,
        timeouts: Timeouts,
        mentions: Mentions,
        feed: Feed | None,
        show: Callable[[Message], None],
        clock: Callable[[], int],
        rate: Rate | None,
        address_rate: Rate | None,
    ) -> None:
        self._ns = ns
        self._store = store
        self._channels = channels
        self._timeouts = timeouts
        self._mentions = mentions
        self._feed = feed
        # One node: shows a stored message to its channel (ChatServer).
        self._show = show
        self._clock = clock
        # Keyed by userId, and by address (Handshake.address_key).
        self._sends = KeyedBuckets(rate)
        self._address_sends = KeyedBuckets(address_rate)
        self._order = Sequencer()
        # It waits for the store and for earlier senders, never for its own client, and
        # its waits after the store has the message cannot be cut (the Store contract; the
        # turn, the cluster's wait until shown and the notifications, shielded): run in
        # the connection's reader, a message costs no worker wake-up and no cancel scope.
        ns.answer_in_reader("message:channel:send")

    def handlers(self) -> dict[str, Handler]:
        return {"message:channel:send": self._on_send}

    async def _on_send(self, socket: Socket, *args: Any) -> Ack:
        ack = await self._send(socket, *args)
        if not ack["ok"] and not ack_requested():
            # A sender without an ack callback (the original React client) would never
            # learn its message was dropped; it reads only messages.
            channel = args[0] if args and args[0] in CHANNELS else None
            if channel is not None and ("user" in socket.data or TURNED_AWAY in socket.data):
                line = notices.not_sent(args[1] if len(args) > 1 else None, ack["error"])
                socket.emit("message:channel", channel, notices.system_message(line, self._clock()))
        return ack

    async def _send(self, socket: Socket, *args: Any) -> Ack:
        user: User | None = socket.data.get("user")
        if user is None:
            return refuse(socket, "message:channel:send", not_joined(socket))
        if len(args) != 2:
            return refuse(socket, "message:channel:send", "expected (channel, text)")
        until = self._timeouts.until(user.user_id)
        if until is not None:
            ack = refuse(
                socket,
                "message:channel:send",
                f"you are timed out until {notices.clock_time(until)}",
                label="timed out",
            )
            ack["until"] = until
            return ack
        now = trio.current_time()
        wait = self._sends.take(user.user_id, now)
        if wait:
            return rate_limited(socket, "message:channel:send", wait, "you are sending too fast")
        # Taken only once the user's own bucket let the message through: a flooder it
        # refuses does not use up what the others at its address may send.
        wait = self._address_sends.take(socket.handshake.address_key, now)
        if wait:
            return rate_limited(
                socket, "message:channel:send", wait, "too many messages from your address"
            )
        try:
            text = validation.message_text(args[1])
            channel = await self._channels.usable(user.user_id, args[0], _POST)
        except Invalid as error:
            return refuse(socket, "message:channel:send", error.reason)
        except StoreWriteError as exc:
            log.warning("a channel for user %s's message was not stored: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not store the message"}
        try:
            mentioned = await self._mentions.of(text)
            message = await self._publish(channel, user, text, mentioned)
            if mentioned:
                # The reader that applies this may be cancelled (the sender's connection
                # ending): a message already shown keeps its notifications.
                with trio.CancelScope(shield=True):
                    await self._mentions.notify(replace(message, mentions=mentioned))
        except StoreWriteError as exc:
            # The store already logged the fault; the sender learns it was not stored.
            log.warning("a message from user %s was not stored: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not store the message"}
        except Exception:
            log.exception("storing a message from user %s failed", user.user_id)
            return {"ok": False, "error": "the server could not store the message"}
        return {"ok": True, "id": message.id}

    async def _publish(
        self, channel: str, user: User, text: str, mentioned: tuple[str, ...] = ()
    ) -> Message:
        """Store, then broadcast to the channel, in store order across concurrent senders."""
        if self._feed is not None:
            return await self._publish_through_log(channel, user, text)
        # Taking the ticket and calling the store happen in one step, so the store sees
        # calls in ticket order.
        ticket = self._order.take()
        message: Message | None = None
        try:
            started = time.perf_counter()
            # Unshielded here: the store's call is (the Store contract), so a message it
            # committed reaches the broadcast below whatever happens to the sender.
            stored = await self._store.add_message(channel, user, text, self._clock())
            stored = replace(stored, mentions=mentioned) if mentioned else stored
            message = stored
            self._ns.metrics.store_commit_seconds.observe(time.perf_counter() - started)
            return stored
        finally:
            if not self._order.due(ticket):
                # Shielded: an abandoned turn would block every later sender, and a stored
                # message must become visible even if its sender went away meanwhile.
                with trio.CancelScope(shield=True):
                    await self._order.wait(ticket)
            try:
                if message is not None:
                    self._show(message)
            finally:
                self._order.release(ticket)

    async def _publish_through_log(self, channel: str, user: User, text: str) -> Message:
        """Cluster mode: the store appends the message to the log as it commits it; this
        node's reader shows it (as every node's does, in log order)."""
        assert self._feed is not None
        received = time.time()
        started = time.perf_counter()
        # Uncancellable once called (the Store contract).
        message = await self._store.add_message(channel, user, text, self._clock())
        self._ns.metrics.store_commit_seconds.observe(time.perf_counter() - started)
        # Acked once shown here, so a sender sees its message before its ack. If the
        # reader is stuck (Redis gone after the commit), the message is durable and will
        # be shown in order when it resumes: the ack still says ok. Shielded: the reader
        # that applies this may be cancelled (the sender's connection ending), and the
        # mentions' notifications come after this wait.
        with trio.CancelScope(shield=True):
            await self._feed.shown(message.id)
        if (trace := stages.trace) is not None:
            trace.mark(message.id, "received", received)
            trace.mark(message.id, "ack", time.time())
            trace.text(message.id, text)
        return message
