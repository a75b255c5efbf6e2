"""ChatServer: the original chat's events (and our additive ones) on the Socket.IO layer.

Every socket joins every channel room; presence announcements go to the `welcome` room.
Client mistakes never raise out of a handler: they are answered in the ack (or refused at
connect) and logged at INFO, without a traceback. A client that sent without an ack
callback (the original React front end) is told of a refused message or leave by a System
line instead (see notices), since it reads nothing else. The same goes for a refused connect:
a client that says it reads CONNECT_ERROR (``connectErrors: true`` in its auth) gets one; any
other is let in without joining, told why in a System line, and let go (see _turn_away).

What a client may cost is bounded: messages per user and per address, history pages per
user, new users per address (token buckets), and the `users` list a connect receives
(everyone online, plus the offline users most recently seen).
"""

import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, MutableSequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeGuard

import trio

from minidiscord.limits import KeyedBuckets, Rate
from minidiscord.oldest_first import drop_stale_front
from minidiscord.sockets import (
    ConnectionRefused,
    InMemoryAdapter,
    Socket,
    SocketServer,
    ack_requested,
)
from minidiscord.sockets.reasons import SocketsRejectLabel
from minidiscord.sockets.recovery import RECOVERABLE_REASONS

from . import notices, stages, validation
from .accounts.http import cookie_token
from .accounts.service import AccountError, Accounts, Authenticated, AuthMode
from .accounts.sessions import Lifetimes, refusal
from .channels.events import ChannelEvents
from .channels.memory import MemoryChannels
from .channels.registry import ChannelRegistry, Need
from .channels.store import ChannelStore
from .clock import wall_clock_ms
from .feed import Feed
from .live import mentions, typing_events
from .live.typing_events import TypingEvents
from .messageevents import message_handlers, shown_change
from .models import CHANNELS, ROLES, WELCOME_CHANNEL, Message, Role, Session, User
from .moderation import effects
from .moderation.admin_events import AdminEvents
from .moderation.directory import StoreDirectory
from .moderation.effects import Do, Effect
from .moderation.events import Handler, ModerationEvents
from .moderation.service import Moderation
from .moderation.timeouts import Timeouts
from .ordering import Sequencer
from .payloads import ChannelsPayload, UsersPayload
from .presence import Presence
from .reactions.history import snapshot_with_reactions, with_reactions
from .reactions.memory import MemoryReactions
from .reactions.store import ReactionStore
from .reads import events as reads
from .reads.memory import MemoryReads
from .reads.store import ReadStore
from .search.scan import ScanSearch
from .search.store import MessageSearch
from .snapshots import SharedReads, for_user
from .store import Store
from .store.base import Snapshot, StoreReadError, StoreWriteError
from .validation import Invalid
from .wentoffline import WentOffline

log = logging.getLogger(__name__)

# Largest page a client may ask for with `channel:history`.
MAX_HISTORY_PAGE = 100
# Attempts at reading a connect snapshot that no user change overlapped (see _snapshot).
SNAPSHOT_TRIES = 3
# Offline users last seen longer ago than this are left out of the `users` list.
LISTED_OFFLINE_MS = 30 * 24 * 3600 * 1000
# How long a client turned away at connect stays to read why: it holds a connection the
# whole time, and the original React client goes back to its login page when let go.
TURNED_AWAY_SECONDS = 60.0
# socket.data key of a turned-away socket: why it was not let in.
TURNED_AWAY = "turned_away"
# socket.data key of a socket whose `user:leave` is being committed (cluster mode): the log
# reader leaves its disconnect to the leave handler, which acks first.
LEAVING = "leaving"
# Cluster mode: how long (seconds) a user who left is remembered, so that a connect
# snapshot read before their leave was shown does not list them.
GONE_SECONDS = 60.0
# socket.data key of a socket that logged in: its login session's digest (a revoked or
# logged-out session lets its sockets go).
LOGIN = "login"

# The effects (moderated) that change a message already shown.
MESSAGE_EFFECTS = frozenset({Do.DELETE, Do.EDIT, Do.REACT})

Ack = dict[str, Any]
NEEDS_ACCOUNT = "this server is for registered users: log in first"


class ChatServer:
    def __init__(
        self,
        sio: SocketServer,
        store: Store,
        *,
        history_limit: int = 50,
        rate_limit: Rate | None = None,
        history_rate: Rate | None = None,
        ip_new_user_rate: Rate | None = None,
        ip_message_rate: Rate | None = None,
        users_listed_offline: int | None = None,
        presence_grace: float = 0.0,
        clock: Callable[[], int] = wall_clock_ms,
        feed: Feed | None = None,
        reconnect_all: Callable[[], None] | None = None,
        accounts: Accounts | None = None,
        auth: AuthMode = "open",
        guest_lifetimes: Lifetimes | None = None,
        channel_store: ChannelStore | None = None,
        reactions: ReactionStore | None = None,
        search: MessageSearch | None = None,
        read_store: ReadStore | None = None,
    ) -> None:
        # Keyed by userId, except the per-address ones (Handshake.address_key).
        self._sends = KeyedBuckets(rate_limit)
        self._address_sends = KeyedBuckets(ip_message_rate)
        self._history_reads = KeyedBuckets(history_rate)
        self._new_users = KeyedBuckets(ip_new_user_rate)
        # None: every user that has not left is listed, however long ago they were seen.
        self._listed_offline = users_listed_offline
        self._ns = sio.of("/")
        self._store = store
        self._history_limit = history_limit
        # Wall-clock milliseconds: message timestamps and "last seen" times.
        self._clock = clock
        self._presence = Presence()
        # A user whose connection dropped stays online this long (seconds; timers run in
        # the nursery start() is given): sockets waiting it out, each with its timer.
        self._presence_grace = presence_grace
        self._nursery: trio.Nursery | None = None
        self._going: dict[str, trio.CancelScope] = {}
        # Users who left, with when (trio time), as long as a dropped socket of theirs may
        # still be recovered: a recovered socket's user is otherwise not read again.
        self._left: dict[str, float] = {}
        self._order = Sequencer()
        # Bumped by every user created or removed, and every message deleted, edited or
        # reacted to (a connect snapshot must not straddle one).
        self._changes = 0
        # The highest message id every message up to which has been broadcast (None until
        # start() reads it), and the last messages broadcast per channel: together they let
        # a connect snapshot say exactly which messages the newcomer gets as history.
        self._visible_id: int | None = None
        self._recent: dict[str, deque[Message]] = {
            name: deque(maxlen=history_limit) for name in CHANNELS
        }
        # Cluster mode: only the feed's log reader makes events visible; the users online
        # anywhere, as of the last log entry this node applied; users who left lately.
        self._feed = feed
        self._online: dict[str, User] = {}
        self._online_view = MappingProxyType(self._online)
        self._gone: dict[str, float] = {}
        # Cluster mode: who went offline lately (snapshots leave out who was online).
        self._offline_lately = WentOffline(GONE_SECONDS)
        self._reads: SharedReads[tuple[Snapshot, bool]] = SharedReads(self._read_snapshot)
        self._users_payload = UsersPayload()
        self._channels_payload = ChannelsPayload()
        # Closes every client's connection without a Socket.IO DISCONNECT, so that clients
        # reconnect (the app's engine does it; the chat does not reach through sockets).
        self._reconnect_all = reconnect_all
        # Who may connect and as whom (None: guests only, as the original server).
        self._accounts = accounts
        self._auth: AuthMode = auth
        # How long a guest's session may be restored (None: for ever).
        self._guest_lifetimes = guest_lifetimes
        # Moderation needs accounts (roles, bans and the audit log are kept beside them).
        self._timeouts = Timeouts(clock)
        self._moderation: Moderation | None = None
        moderated: dict[str, Handler] = {}
        if accounts is not None:
            accounts.on_sessions_ended(self._let_go_of_logins)
            self._moderation = Moderation(accounts, clock=clock)
            events = ModerationEvents(self, self._moderation)
            admin = AdminEvents(self, self._moderation, StoreDirectory(store))
            moderated = events.handlers()
            for event, handler in {**moderated, **admin.handlers()}.items():
                self._ns.on(event)(handler)
        elif auth == "accounts":
            raise ValueError("auth 'accounts' needs the accounts")
        # Created channels and direct conversations (channels/): the one access check.
        self._channels = ChannelRegistry(channel_store or MemoryChannels(), store)
        self._channel_events = ChannelEvents(
            self, self._ns, self._channels, self._moderation, clock
        )
        # Issue 18: edits, an author's deletes, reactions, search (messageevents.py).
        self._reactions = reactions or MemoryReactions()
        handlers = {
            **self._channel_events.handlers(),
            **message_handlers(
                self,
                store,
                self._reactions,
                search or ScanSearch(store),
                self._channels,
                clock=clock,
                send_rate=rate_limit,
                read_rate=history_rate,
                moderators_delete=moderated.get("message:delete"),
            ),
        }
        for event, handler in handlers.items():
            self._ns.on(event)(handler)
        if feed is not None:
            feed.attach(self)
        self._ns.on("connect")(self._on_connect)
        self._ns.on("disconnect")(self._on_disconnect)
        self._ns.on("message:channel:send")(self._on_send)
        self._ns.on("user:leave")(self._on_leave)
        self._ns.on("channel:history")(self._on_history)
        self._typing = TypingEvents(
            self._ns,
            self.moderate,
            check=lambda user_id, raw: self._channels.check(user_id, raw, Need.POST),
            audience=self._channel_events.audience,
        )
        self._mentions = mentions.Mentions(
            self.online_users, store.list_users, self.moderate, readable=self.readable
        )
        # The live features' effects, applied on every node as moderation's are.
        self._effects: dict[str, Callable[[dict[str, Any]], None]] = {
            mentions.EFFECT: lambda effect: mentions.deliver(self._ns, effect, user_room),
            reads.EFFECT: lambda effect: reads.deliver(self._ns, effect, user_room),
            typing_events.EFFECT: self._typing.apply,
        }
        self._read_events = reads.ReadEvents(
            read_store or MemoryReads(),
            newest=lambda: self._visible_id,
            share=self.moderate,
            readable=self.readable,
        )
        for event, handler in [
            *self._typing.handlers().items(),
            *self._read_events.handlers().items(),
        ]:
            self._ns.on(event)(handler)

    @property
    def presence(self) -> Presence:
        return self._presence

    @property
    def grace_pending(self) -> int:
        """How many dropped sockets' users are online only by the presence grace."""
        return len(self._going)

    async def start(self, nursery: trio.Nursery | None = None) -> None:
        """Before the first connect: everything already stored counts as visible. The
        presence grace's timers run in ``nursery`` (without one, a user whose last
        connection drops goes offline at once)."""
        self._nursery = nursery
        if nursery is not None:
            nursery.start_soon(self._typing.run)
        if self._moderation is not None:
            # After the cluster's reader opened: a timeout given since is in the log.
            for user_id, until in (await self._moderation.timeouts()).items():
                self._timeouts.set(user_id, until)
        await self._channels.load()
        if self._feed is None:
            self._visible_id = (await self._store.snapshot((), 0, users_max=0)).last_id
        # In cluster mode the feed's reader sets it (reset) before the first connect.

    def online_users(self) -> Mapping[str, User]:
        """Who is online: this node's sockets' users, or in cluster mode everyone's."""
        return self._presence.users() if self._feed is None else self._online_view

    def readable(self, user_id: str, channel: object) -> str:
        return self._channels.check(user_id, channel, Need.READ)

    async def known_user(self, asker: str, user_id: str) -> bool:
        """Whether ``user_id`` is a user that has not left: one read of every user, which
        costs ``asker`` a history page's share of its budget (Invalid when spent)."""
        wait = self._history_reads.take(asker, trio.current_time())
        if wait:
            raise Invalid(f"you are asking too fast; try again in {wait:.1f} s")
        return any(user.user_id == user_id for user in await self._store.list_users())

    # -- connect / disconnect ----------------------------------------------------------

    async def _on_connect(self, socket: Socket, auth: object) -> None:
        fields: dict[str, Any] = auth if isinstance(auth, dict) else {}
        try:
            try:
                if socket.recovered and "user" in socket.data:
                    await self._check_recovered_login(socket)
                    user: User = socket.data["user"]
                    if LOGIN not in socket.data:
                        # A guest banned while away (an account's ban ended its sessions).
                        try:
                            await self._refuse_banned(user.user_id)
                        except ConnectionRefused:
                            del socket.data["user"]
                            raise
                    back = socket.id not in self._going and user.user_id not in self._left
                    if self._feed is not None and back:
                        # It went offline after the grace: it comes back through the log.
                        await self._feed.arrive(socket.id, user, first=False)
                    self._resume(socket)
                else:
                    await self._join(socket, fields)
            except StoreReadError as exc:
                # A store that can fail to answer (Redis away): a refusal, not a crash.
                log.warning("socket %s could not be let in: %s", socket.id, exc)
                raise ConnectionRefused(
                    "the server cannot read its database now; try again later"
                ) from None
        except ConnectionRefused as refusal:
            if fields.get("connectErrors") is True:
                raise
            self._turn_away(socket, refusal.message)

    def _turn_away(self, socket: Socket, reason: str) -> None:
        """Let in, without joining, a client that may not read CONNECT_ERROR (the original
        React client shows the chat once connected and nothing of a refusal): every channel
        holds one System line saying why, and the server lets it go after a while or at its
        `user:leave`. It is no user: it gets no history, no users, and can send nothing."""
        log.info("turned away socket %s: %s", socket.id, reason)
        socket.namespace.metrics.reject(SocketsRejectLabel.CONNECT_REFUSED)
        socket.data[TURNED_AWAY] = reason
        line = notices.system_message(notices.not_joined(reason), self._clock())
        socket.emit("channels", [{"name": name, "messages": [line]} for name in CHANNELS])
        socket.start_soon(_let_go, socket)

    async def _join(self, socket: Socket, fields: dict[str, Any]) -> None:
        user, session, new = await self._identify(socket, fields)
        # Below, `restored is None` means a user nobody has seen join yet.
        restored = None if new else (user, session)
        snapshot = await self._snapshot(user.user_id)
        if socket.id not in self._ns.sockets:
            # The connection closed while we awaited the store; a user nobody ever saw
            # join is not kept, so their first real connect is still announced (an
            # account's user stays: the account is linked to it).
            if restored is None and user.role is Role.GUEST:
                await self._forget_unseen(user)
            return
        if all(other.user_id != user.user_id for other in snapshot.users):
            # Another tab of this user sent `user:leave` while we were reading.
            raise ConnectionRefused("this session has ended; connect again to start a new one")
        if self._feed is not None:
            await self._arrive(socket, user, first=restored is None)
            if socket.id not in self._ns.sockets:
                self._feed.depart(socket.id)
                return

        # No awaits from here on: joining the rooms and announcing is one atomic step, so
        # nothing broadcast in between can be missed or seen twice.
        socket.data["user"] = user
        came_online = self._presence.add(user, socket.id)
        if came_online and restored is not None:
            self._store.note_seen(user.user_id, self._clock())
        for channel in CHANNELS:
            socket.join(channel)
        # Every tab of a user, for what only they get (read positions, mentions).
        socket.join(user_room(user.user_id))
        # With connection state recovery, only the greeting's last event (`users`) carries an
        # offset, and it is not kept (PacketLog.unkept): a client holding it got the whole
        # greeting, and kept, at 2,000 users, the `users` lists of a connect storm would fill
        # the whole recovery buffer (64 MiB).
        socket.emit_volatile("session", session.wire(user))
        socket.emit_volatile(
            "channels",
            self._channels_payload.encode(
                lambda: self._history(snapshot),
                read=snapshot.messages,
                last_id=snapshot.last_id,
                visible=self._visible_id,
            ),
        )
        users = self._users_payload.encode(self._listed_users(snapshot), self.online_users())
        if self._feed is not None:
            # The last of the greeting carries the log position it is of: a client that has
            # it all can recover from there, on any node.
            assert self._visible_id is not None
            with self._feed.offset_at(self._visible_id):
                socket.emit("users", users)
            return  # the log reader announced the user (before this socket joined)
        with self._unkept():
            socket.emit("users", users)
        if restored is None:
            socket.to(WELCOME_CHANNEL).emit("user:join", user.join_wire())
            log.debug("user %s (%s) joined", user.user_id, user.username)
        elif came_online:
            socket.to(WELCOME_CHANNEL).emit("user:connect", user.presence_wire(connected=True))
            log.debug("user %s (%s) is back online", user.user_id, user.username)

    def _unkept(self) -> AbstractContextManager[None]:
        """What the chat emits within carries a recovery offset but is not kept (one node;
        in cluster mode the feed stamps the greeting)."""
        adapter = self._ns.adapter
        return adapter.unkept() if isinstance(adapter, InMemoryAdapter) else nullcontext()

    def _resume(self, socket: Socket) -> None:
        """A socket the Socket.IO layer recovered: the same user (``socket.data``), already
        in its rooms and sent every event it missed, so it gets no history or users list.
        Within the presence grace it never went offline; after it, it comes back online."""
        user: User = socket.data["user"]
        if user.user_id in self._left:
            # It left from another tab while this one was away.
            del socket.data["user"]
            if self._feed is not None:
                self._feed.depart(socket.id)  # registered just now, or never: harmless
            raise ConnectionRefused("this session has ended; connect again to start a new one")
        waiting = self._going.pop(socket.id, None)
        if waiting is not None:
            waiting.cancel()
        if self._feed is not None:
            self._presence.add(user, socket.id)
            return
        if self._presence.add(user, socket.id):
            self._store.note_seen(user.user_id, self._clock())
            socket.to(WELCOME_CHANNEL).emit("user:connect", user.presence_wire(connected=True))
            log.debug("user %s (%s) is back online", user.user_id, user.username)

    async def _arrive(self, socket: Socket, user: User, *, first: bool) -> None:
        """Cluster mode: register the socket and wait until this node has shown the user
        online; then the user list and history boundary are both from that log position."""
        assert self._feed is not None
        await self._feed.arrive(socket.id, user, first=first)
        if user.user_id in self._gone:
            # It left (from a tab on any node) while we were reading or registering.
            self._feed.depart(socket.id)
            raise ConnectionRefused("this session has ended; connect again to start a new one")

    async def _identify(self, socket: Socket, fields: dict[str, Any]) -> tuple[User, Session, bool]:
        """Who the client is, and whether that user is new: an account's user (a login
        token in the auth's ``token`` or ``sessionId``, or the login cookie), a guest's
        restored session, or a new guest (open mode only)."""
        login = await self._login(socket, fields)
        if login is not None:
            return await self._account_user(socket, *login)
        if self._auth == "accounts":
            raise ConnectionRefused(NEEDS_ACCOUNT)
        restored = await self._restore(fields.get("sessionId"))
        if restored is not None:
            return (*restored, False)
        user, session = await self._create_user(socket, fields)
        return user, session, True

    async def _login(
        self, socket: Socket, fields: dict[str, Any]
    ) -> tuple[Authenticated, str] | None:
        """The login the client presents, with the token the `session` event may echo (only
        one the client sent in its auth: a cookie's token stays HttpOnly)."""
        accounts = self._accounts
        if accounts is None:
            return None
        # (token, whether the client sent it itself, whether it must be a login's)
        offered = [
            (fields.get("token"), True, True),
            (fields.get("sessionId"), True, False),
            (cookie_token(socket.handshake.headers.get("cookie")), False, False),
        ]
        for token, shown, required in offered:
            if token is None:
                continue
            try:
                found = await accounts.authenticate(token)
            except AccountError as error:
                raise ConnectionRefused(error.message) from None
            if found is not None:
                return found, token if shown and isinstance(token, str) else ""
            if required:
                raise ConnectionRefused("this login token is unknown; log in again")
        return None

    async def _account_user(
        self, socket: Socket, who: Authenticated, token: str
    ) -> tuple[User, Session, bool]:
        """The chat user an account speaks as, made at its first connect."""
        assert self._accounts is not None
        account = who.account
        new = False
        if account.user_id is None:
            made, _ = await self._new_user(account.username, None, role=account.role)
            try:
                user_id, seq = await self._accounts.link_user(account, made)
            except AccountError as error:
                await self._forget_unseen(made)
                raise ConnectionRefused(error.message) from None
            if user_id == made.user_id:
                new = True
            else:
                await self._forget_unseen(made)  # another connect linked its user first
        else:
            user_id, seq = account.user_id, account.user_seq
        socket.data[LOGIN] = who.session.digest
        user = User(user_id, account.username, None, seq=seq, role=account.role)
        return user, Session(token, user_id), new

    async def _check_recovered_login(self, socket: Socket) -> None:
        """A recovered socket's login may have ended while its connection was down (when
        it was not there to be let go): then it is refused like a restore."""
        login: bytes | None = socket.data.get(LOGIN)
        if login is None or self._accounts is None:
            return
        try:
            why = await self._accounts.why_ended(login)
        except AccountError as error:
            why = error.message
        if why is not None:
            del socket.data["user"]
            raise ConnectionRefused(why)

    # -- moderation's side (moderation/events.py ChatSide) -------------------------------
    # Each effect goes through moderate(): applied here at once on one node; in cluster
    # mode appended to the log, which every node's reader applies to its own sockets (as it
    # does `leave`), so a kick or a deletion reaches every tab wherever it is connected.

    async def delete_message(self, channel: str, message_id: int) -> bool:
        """Delete a message; everyone who can see the channel gets `message:delete`
        (moderators' deletions now, a sender's own later, issue 18, the same way)."""
        await self._channels.prepare(channel)
        if not await self._store.delete_message(channel, message_id):
            return False
        if self._feed is None:
            self._apply_moderation(effects.deleted(channel, message_id))
        else:
            # The Redis store appended the deletion to the log in the same script that
            # removed the message (store/redis.py): wait until this node showed it.
            await self._feed.caught_up()
        return True

    def timed_out_until(self, user_id: str) -> int | None:
        return self._timeouts.until(user_id)

    async def kick(self, user_id: str) -> None:
        """Let every tab of the user go ("io server disconnect": clients do not reconnect
        by themselves)."""
        await self.moderate(effects.kicked(user_id))

    async def time_out(self, user_id: str, until: int) -> None:
        await self.moderate(effects.timed_out(user_id, until))

    async def set_role(self, user_id: str, role: Role) -> None:
        """An account's role changed: its tabs speak with it from now on, and everyone is
        told (`user:role`); the `users` list shows it while the user is offline."""
        await self._store.set_role(user_id, role)
        await self.moderate(effects.role_changed(user_id, role))

    async def forget_users(self, users: list[User]) -> None:
        if users and self._feed is None:
            # Cluster mode needs nothing more: the Redis store's delete_user logged a
            # `leave` for each, which every node reads.
            await self.moderate(effects.forgotten(users))

    async def moderate(self, effect: Effect) -> None:
        if self._feed is None:
            self._apply_moderation(effect)
        else:
            await self._feed.announce(effect)

    def moderated(self, position: int, effect: Effect) -> None:
        """Cluster mode: the log reader's moderation entry (LogSink)."""
        self._visible_id = position
        self._apply_moderation(effect)

    def apply_effect(self, effect: Effect) -> None:
        """One node on SQLite: an effect ``minidiscord admin`` put in the outbox
        (moderation/upkeep.py)."""
        self._apply_moderation(effect)

    def _apply_moderation(self, effect: Effect) -> None:
        what, user_id = effect.get("do"), effect.get("userId")
        channel, message_id = effect.get("channel"), effect.get("id")
        until, role = effect.get("until"), effect.get("role")
        sessions, users = effect.get("sessions"), effect.get("users")
        if what in MESSAGE_EFFECTS:
            # A connect snapshot being read holds the message as it was: read it again.
            self._changes += 1
        # Only the original five keep their recent broadcasts (for the `channels` payload).
        recent: MutableSequence[Message] = (
            self._recent.get(channel, []) if isinstance(channel, str) else []
        )
        if what == Do.DELETE and isinstance(channel, str) and _is_int(message_id):
            for kept in [m for m in recent if m.id == message_id]:
                recent.remove(kept)
            # A `channels` payload made before holds it.
            self._channels_payload.forget()
            self._channel_events.audience(channel).emit(
                "message:delete", {"channel": channel, "id": message_id}
            )
        elif isinstance(channel, str) and (shown := shown_change(effect, recent)):
            self._channels_payload.forget()
            self._channel_events.audience(channel).emit(*shown)
        elif what == Do.KICK and isinstance(user_id, str):
            for own in self._sockets_of(user_id):
                own.disconnect()
        elif what == Do.TIMEOUT and isinstance(user_id, str) and _is_int(until):
            self._timeouts.set(user_id, until)
        elif what == Do.ROLE and isinstance(user_id, str) and role in ROLES:
            self._changed_role(user_id, Role(role))
        elif what == Do.LOGOUT and isinstance(sessions, list):
            self._let_go_of_sessions({s for s in sessions if isinstance(s, str)})
        elif what == Do.FORGET and isinstance(users, list):
            self._forget_removed(users)
        elif self._channel_events.apply(effect):
            pass  # a channel or a conversation, created or changed
        elif isinstance(what, str) and what in self._effects:
            self._effects[what](effect)
        else:
            log.warning("a moderation effect could not be applied: %r", effect)

    def _sockets_of(self, user_id: str) -> list[Socket]:
        sockets = self._ns.sockets
        return [sockets[sid] for sid in self._presence.sockets_of(user_id) if sid in sockets]

    def _changed_role(self, user_id: str, role: Role) -> None:
        for own in self._sockets_of(user_id):
            user: User = own.data["user"]
            own.data["user"] = User(user.user_id, user.username, user.avatar, user.seq, role)
        self._presence.set_role(user_id, role)
        mirrored = self._online.get(user_id)
        if mirrored is not None:
            self._online[user_id] = User(
                mirrored.user_id, mirrored.username, mirrored.avatar, mirrored.seq, role
            )
        self._ns.to(WELCOME_CHANNEL).emit("user:role", {"userId": user_id, "role": role.value})

    async def _refuse_banned(self, subject: str) -> None:
        if self._moderation is None:
            return
        try:
            ban = await self._moderation.banned(subject)
        except AccountError as error:
            raise ConnectionRefused(error.message) from None
        if ban is not None:
            raise ConnectionRefused(f"you are banned: {ban.reason}")

    async def _let_go_of_logins(self, digests: frozenset[bytes]) -> None:
        """Login sessions ended (logged out, revoked, a password changed): their sockets are
        disconnected on every node, as a server-side disconnect (clients do not reconnect
        on their own: they must log in again)."""
        try:
            await self.moderate(effects.logged_out(digests))
        except StoreWriteError as exc:
            # The sessions are ended in the store: their tabs are refused when they reconnect.
            log.warning("ended login sessions were not announced: %s", exc)

    def _let_go_of_sessions(self, hex_digests: set[str]) -> None:
        for socket in list(self._ns.sockets.values()):
            login: bytes | None = socket.data.get(LOGIN)
            if login is not None and login.hex() in hex_digests:
                # Not at once: the session may be ending in this socket's own handler
                # (`user:leave`), whose ack goes first.
                socket.start_soon(_disconnect, socket)

    def _forget_removed(self, users: list[Any]) -> None:
        """One node on SQLite: users removed from the store by ``minidiscord admin
        prune-guests`` leave, as if they had left (cluster mode: the store's `leave`)."""
        for entry in users:
            if not isinstance(entry, dict):
                continue
            user_id, name = entry.get("userId"), entry.get("username")
            if not isinstance(user_id, str) or not isinstance(name, str):
                continue
            self._changes += 1
            self._note_left(user_id)
            self._end_tabs(User(user_id, name, None), spared=lambda _: False)

    async def _restore(self, session_id: object) -> tuple[User, Session] | None:
        if not isinstance(session_id, str) or not session_id:
            return None
        restored = await self._store.get_session(session_id)
        if restored is None:
            return None
        user, session = restored
        await self._refuse_banned(user.user_id)
        lifetimes = self._guest_lifetimes
        if lifetimes is None:
            return restored
        if user.user_id in self.online_users():
            return restored  # in use right now, in another tab
        state = lifetimes.state_at(session.created, session.last_seen, self._clock())
        why = refusal(state, "guest session", "connect again to start a new one")
        if why is not None:
            raise ConnectionRefused(why)
        return restored

    async def _create_user(self, socket: Socket, auth: dict[str, Any]) -> tuple[User, Session]:
        try:
            username = validation.username(auth.get("username"))
            avatar = validation.avatar(
                auth.get("avatar"), server_host=socket.handshake.headers.get("host")
            )
        except Invalid as error:
            # The Socket.IO layer logs and counts the refusal.
            raise ConnectionRefused(error.reason) from None
        if self._accounts is not None:
            try:
                owner = await self._accounts.owner_of(username)
            except AccountError as error:
                raise ConnectionRefused(error.message) from None
            if owner is not None:
                raise ConnectionRefused(
                    f"the name {username!r} belongs to an account: log in to use it, or "
                    "pick another"
                )
        # One address making users as fast as it can connect would step around every
        # per-user limit; a restored session is not a new user and costs nothing here.
        wait = self._new_users.take(socket.handshake.address_key, trio.current_time())
        if wait:
            raise ConnectionRefused(
                f"too many new users from your address; try again in {math.ceil(wait)} s"
            )
        return await self._new_user(username, avatar, role=Role.GUEST)

    async def _new_user(
        self, username: str, avatar: str | None, *, role: Role
    ) -> tuple[User, Session]:
        try:
            created = await self._store.create_user(username, avatar, seen=self._clock(), role=role)
        except StoreWriteError as exc:
            log.warning("a new user was not stored: %s", exc)
            raise ConnectionRefused(
                "the server cannot store new users now; try again later"
            ) from None
        self._changes += 1
        return created

    async def _forget_unseen(self, user: User) -> None:
        try:
            await self._store.delete_user(user.user_id)
        except StoreWriteError as exc:
            # Kept, offline: it will be listed like any user who came once.
            log.warning("user %s, never seen online, could not be removed: %s", user.user_id, exc)
        self._changes += 1

    async def _snapshot(self, user_id: str) -> Snapshot:
        """Channel histories and users as of one moment (one store read, which started
        after this call and may serve other connects too), with this user listed whatever
        the recency cut (its absence then means it left meanwhile).

        Messages are made exact afterwards by _history, users by _listed_users; a user
        removed during the read could be in the list yet announced as gone before this
        socket joined, so the read is retried then (bounded: under sustained churn the
        last one is used).
        """
        for _ in range(SNAPSHOT_TRIES):
            # Shared with the connects registered by the time the read starts (SharedReads).
            snapshot, overlapped = await self._reads.read(user_id)
            if not overlapped:
                break
        return for_user(snapshot, user_id)

    async def _read_snapshot(self, connecting: frozenset[str]) -> tuple[Snapshot, bool]:
        """One store read for these connecting users, and whether a user change overlapped
        it. In cluster mode Redis leaves out the users online anywhere: this node mirrors
        them (see _listed_users)."""
        changes_before = self._changes
        skip_online = self._feed is not None
        if self._listed_offline is None:
            users_max, seen_since = None, 0
        else:
            # The connecting users (not yet online) and, unless left out, the online users
            # may rank among the most recently seen too: room for them as well.
            users_max = self._listed_offline + len(connecting)
            if not skip_online:
                users_max += len(self.online_users())
            seen_since = self._clock() - LISTED_OFFLINE_MS
        snapshot = await self._store.snapshot(
            CHANNELS,
            self._history_limit,
            users_max=users_max,
            seen_since=seen_since,
            including=connecting,
            skip_online=skip_online,
        )
        snapshot = await snapshot_with_reactions(self._reactions, snapshot)
        return snapshot, changes_before != self._changes

    def _listed_users(self, snapshot: Snapshot) -> list[User]:
        """The `users` list for a socket joining now (no await): everyone online now, and
        the offline users of the snapshot most recently seen (at most the configured
        number), in creation order.

        Online users come from presence, not the snapshot: one who came online during the
        read, or was last seen too long ago for the store's cut, is listed all the same.
        """
        online = self.online_users()
        # In cluster mode a user who left while the snapshot was read is gone.
        gone = self._gone
        offline = [u for u in snapshot.users if u.user_id not in online and u.user_id not in gone]
        seen = snapshot.seen
        if self._feed is not None:
            # Online when the store read (so left out of it), offline now.
            listed = {u.user_id for u in offline}
            later = [
                (u, when)
                for u, when in self._offline_lately.since(snapshot.last_id)
                if u.user_id not in online and u.user_id not in gone and u.user_id not in listed
            ]
            if later:
                offline += [u for u, _ in later]
                seen = {**seen, **{u.user_id: when for u, when in later}}
        most = self._listed_offline
        if most is not None and len(offline) > most:
            offline = heapq.nlargest(most, offline, key=lambda u: (seen.get(u.user_id, 0), u.seq))
        return sorted([*online.values(), *offline], key=lambda u: u.seq)

    def _history(self, snapshot: Snapshot) -> dict[str, list[Message]]:
        """Each channel's history for a socket that joins its rooms now (no await).

        Messages up to the visible id were broadcast before this socket joined, so they
        belong in its history; later ones will reach it as broadcasts, so they must not.
        The snapshot may hold some of those later ones (stored, not yet broadcast), and
        may lack some earlier ones (stored and broadcast while it was read): those come
        from the record of recent broadcasts.
        """
        visible = snapshot.last_id if self._visible_id is None else self._visible_id
        limit = self._history_limit
        history = {}
        for name in CHANNELS:
            stored = [m for m in snapshot.messages.get(name, ()) if m.id <= visible]
            newer = [m for m in self._recent[name] if snapshot.last_id < m.id <= visible]
            history[name] = (stored + newer)[-limit:] if limit > 0 else []
        return history

    async def _on_disconnect(self, socket: Socket, reason: str) -> None:
        if self._nursery is not None and self._typing.typing_from(socket.id):
            # Not awaited here: in cluster mode it waits for the log, the going offline must not.
            self._nursery.start_soon(self._typing.socket_gone, socket.id)
        # Not popped: with recovery on, socket.data is what a recovered socket gets back.
        user: User | None = socket.data.get("user")
        if user is None:
            return  # never fully connected, or already removed by `user:leave`
        nursery = self._nursery
        if self._presence_grace > 0 and nursery is not None and reason in RECOVERABLE_REASONS:
            # A blip, or a closed tab: which one shows within the grace.
            scope = trio.CancelScope()
            self._going[socket.id] = scope
            nursery.start_soon(self._offline_after_grace, socket.id, user, reason, scope)
        else:
            self._went_offline(socket.id, user, reason)

    async def _offline_after_grace(
        self, socket_id: str, user: User, reason: str, scope: trio.CancelScope
    ) -> None:
        with scope:
            await trio.sleep(self._presence_grace)
        if scope.cancelled_caught:
            return  # the socket was recovered (or the server is stopping)
        if self._going.get(socket_id) is scope:
            del self._going[socket_id]
        self._went_offline(socket_id, user, reason)

    def _went_offline(self, socket_id: str, user: User, reason: str) -> None:
        if self._feed is not None:
            # Announced (if the user is now offline everywhere) by the log reader.
            if self._presence.remove(user.user_id, socket_id):
                self._store.note_seen(user.user_id, self._clock())
            self._feed.depart(socket_id)
            return
        if self._presence.remove(user.user_id, socket_id):
            self._store.note_seen(user.user_id, self._clock())
            self._ns.to(WELCOME_CHANNEL).except_(socket_id).emit(
                "user:disconnect", user.presence_wire(connected=False)
            )
            log.debug("user %s (%s) went offline: %s", user.user_id, user.username, reason)

    # -- client events -----------------------------------------------------------------

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
            return _refuse(socket, "message:channel:send", _not_joined(socket))
        if len(args) != 2:
            return _refuse(socket, "message:channel:send", "expected (channel, text)")
        until = self._timeouts.until(user.user_id)
        if until is not None:
            ack = _refuse(
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
            return _rate_limited(socket, "message:channel:send", wait, "you are sending too fast")
        # Taken only once the user's own bucket let the message through: a flooder it
        # refuses does not use up what the others at its address may send.
        wait = self._address_sends.take(socket.handshake.address_key, now)
        if wait:
            return _rate_limited(
                socket, "message:channel:send", wait, "too many messages from your address"
            )
        try:
            text = validation.message_text(args[1])
            channel = await self._channels.usable(user.user_id, args[0], Need.POST)
        except Invalid as error:
            return _refuse(socket, "message:channel:send", error.reason)
        except StoreWriteError as exc:
            log.warning("a channel for user %s's message was not stored: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not store the message"}
        try:
            mentioned = await self._mentions.of(text)
            message = await self._publish(channel, user, text, mentioned)
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
        metrics = self._ns.metrics
        try:
            started = time.perf_counter()
            # Shielded: once asked, the store commits whatever happens to the sender, and a
            # committed message must be broadcast (it cannot hang: it waits one commit).
            with trio.CancelScope(shield=True):
                stored = await self._store.add_message(channel, user, text, self._clock())
            stored = replace(stored, mentions=mentioned) if mentioned else stored
            message = stored
            metrics.store_commit_seconds.observe(time.perf_counter() - started)
            return stored
        finally:
            # Shielded: an abandoned turn would block every later sender, and a stored
            # message must become visible even if its sender went away meanwhile.
            with trio.CancelScope(shield=True):
                await self._order.wait(ticket)
            try:
                if message is not None:
                    self._channel_events.audience(channel).emit(
                        "message:channel", channel, message.wire()
                    )
                    self._typing.message_shown(channel, user.user_id)
                    self._visible_id = message.id
                    self._note_recent(message)
                    metrics.chat_messages.inc()
            finally:
                self._order.release(ticket)

    async def _publish_through_log(self, channel: str, user: User, text: str) -> Message:
        """Cluster mode: the store appends the message to the log as it commits it; this
        node's reader shows it (as every node's does, in log order)."""
        assert self._feed is not None
        received = time.time()
        started = time.perf_counter()
        with trio.CancelScope(shield=True):
            message = await self._store.add_message(channel, user, text, self._clock())
        self._ns.metrics.store_commit_seconds.observe(time.perf_counter() - started)
        # Acked once shown here, so a sender sees its message before its ack. If the
        # reader is stuck (Redis gone after the commit), the message is durable and will
        # be shown in order when it resumes: the ack still says ok.
        await self._feed.shown(message.id)
        if (trace := stages.trace) is not None:
            trace.mark(message.id, "received", received)
            trace.mark(message.id, "ack", time.time())
            trace.text(message.id, text)
        return message

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
            socket.start_soon(_disconnect, socket)
            return {"ok": True}
        if user is None:
            return _refuse(socket, "user:leave", "not connected")
        login: bytes | None = socket.data.get(LOGIN)
        if login is not None and self._accounts is not None:
            # An account's user stays (its name, its messages): leaving logs this session
            # out, which lets its sockets go and the user goes offline.
            try:
                await self._accounts.end_login(login)
            except AccountError as error:
                return {"ok": False, "error": error.message}
            socket.start_soon(_disconnect, socket)
            return {"ok": True}
        if self._feed is not None:
            return await self._leave_through_log(socket, user)
        try:
            await self._store.delete_user(user.user_id)
        except StoreWriteError as exc:
            log.warning("user %s could not leave: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not end your session"}
        self._changes += 1
        self._note_left(user.user_id)
        await self._read_events.user_left(user.user_id)
        # The user's other tabs end too: the user they speak for is gone.
        self._end_tabs(user, also=socket, spared=lambda own: own is socket)
        # The leaver's own disconnect comes after this handler's ack, which a client that
        # asked for one would otherwise never see.
        socket.start_soon(_disconnect, socket)
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
        await self._read_events.user_left(user.user_id)
        # Bounded: if the reader is stuck, the leave is durable and shown later.
        await self._feed.caught_up()
        socket.data.pop("user", None)
        socket.data.pop(LEAVING, None)
        self._presence.remove(user.user_id, socket.id)
        self._feed.depart(socket.id)
        socket.start_soon(_disconnect, socket)
        log.debug("user %s (%s) left", user.user_id, user.username)
        return {"ok": True}

    # -- cluster mode: the log reader's entries (LogSink), each applied without awaits --

    def reset(self, position: int, online: list[User], *, resync: bool) -> None:
        still = {u.user_id for u in online}
        for user in self._online.values():
            if user.user_id not in still:
                self._offline_lately.note(position, user, self._clock())
        self._online.clear()
        self._online.update((u.user_id, u) for u in online)
        self._visible_id = position
        if resync:
            # Messages between this node's last position and now are not in the log any
            # more: the sockets reconnect (a transport close, so clients do) and get a
            # fresh snapshot from the store.
            for recent in self._recent.values():
                recent.clear()
            self._channels_payload.forget()
            if self._reconnect_all is not None:
                self._reconnect_all()
            else:
                for socket in list(self._ns.sockets.values()):
                    socket.disconnect(close=True)

    def message(self, position: int, message: Message) -> None:
        self._channel_events.audience(message.channel).emit(
            "message:channel", message.channel, message.wire()
        )
        self._typing.message_shown(message.channel, message.user_id)
        self._note_recent(message)
        self._visible_id = position
        self._ns.metrics.chat_messages.inc()

    def _note_recent(self, message: Message) -> None:
        """Kept for the connect snapshot's history, which is of the original five only."""
        recent = self._recent.get(message.channel)
        if recent is not None:
            recent.append(message)

    def online(self, position: int, user: User, *, first: bool) -> None:
        self._visible_id = position
        self._online[user.user_id] = user
        others = self._others(user.user_id)
        if first:
            others.emit("user:join", user.join_wire())
            log.debug("user %s (%s) joined", user.user_id, user.username)
        else:
            others.emit("user:connect", user.presence_wire(connected=True))
            log.debug("user %s (%s) is online", user.user_id, user.username)

    def offline(self, position: int, user: User) -> None:
        self._visible_id = position
        mirrored = self._online.pop(user.user_id, None)
        if mirrored is None:
            return  # it left (announced as such) or was never shown online
        # The entry carries the user as it came online: a role given since is the mirror's.
        user = User(user.user_id, user.username, user.avatar, user.seq, mirrored.role)
        self._offline_lately.note(position, user, self._clock())
        self._others(user.user_id).emit("user:disconnect", user.presence_wire(connected=False))
        log.debug("user %s (%s) went offline", user.user_id, user.username)

    def leave(self, position: int, user: User) -> None:
        self._visible_id = position
        self._online.pop(user.user_id, None)
        self._offline_lately.forget(user.user_id)
        self._changes += 1
        self._note_left(user.user_id)
        _remember(self._gone, user.user_id, GONE_SECONDS)
        # The tab whose leave is being committed is disconnected by its handler, after its ack.
        self._end_tabs(user, spared=lambda own: LEAVING in own.data)
        log.debug("user %s (%s) left", user.user_id, user.username)

    def skipped(self, position: int) -> None:
        self._visible_id = position

    def _others(self, user_id: str) -> Any:
        """The welcome room without the sockets of ``user_id``: named by their room, not by
        this node's socket ids, so that what a node broadcasts for a log entry is for the
        same sockets on every node (a client recovers on another, cluster/recovery.py)."""
        return self._ns.to(WELCOME_CHANNEL).except_(user_room(user_id))

    def _note_left(self, user_id: str) -> None:
        recovery = self._ns.recovery
        if recovery is not None:
            # Kept while a dropped socket of theirs may still be recovered.
            _remember(self._left, user_id, recovery.max_disconnection_duration)

    def _end_tabs(
        self, user: User, *, spared: Callable[[Socket], bool], also: Socket | None = None
    ) -> None:
        """A user left: their sockets here (and ``also``) stop speaking for them, everyone
        else in `welcome` hears `user:leave`, and each socket not ``spared`` is disconnected
        at the namespace level ("io server disconnect": socket.io clients do not reconnect
        after it, which is what the original server did)."""
        self._typing.user_gone(user.user_id)
        sockets = [self._ns.sockets.get(sid) for sid in self._presence.forget(user.user_id)]
        if also is not None and also not in sockets:
            sockets.append(also)
        others = self._ns.to(WELCOME_CHANNEL)
        for own in sockets:
            if own is not None:
                own.data.pop("user", None)
                others = others.except_(own.id)
                if self._feed is not None:
                    self._feed.depart(own.id)
        others.emit("user:leave", user.presence_wire(connected=False))
        for own in sockets:
            if own is not None and not spared(own):
                own.disconnect()

    async def _on_history(self, socket: Socket, *args: Any) -> Ack:
        user: User | None = socket.data.get("user")
        if user is None:
            return _refuse(socket, "channel:history", "not connected")
        if not 1 <= len(args) <= 2:
            return _refuse(socket, "channel:history", "expected (channel, {before, limit})")
        # A page is up to MAX_HISTORY_PAGE messages read and encoded: it costs its asker.
        wait = self._history_reads.take(user.user_id, trio.current_time())
        if wait:
            return _rate_limited(
                socket, "channel:history", wait, "you are asking for history too fast"
            )
        try:
            channel = await self._channels.usable(user.user_id, args[0], Need.READ)
        except Invalid as error:
            return _refuse(socket, "channel:history", error.reason)
        except StoreWriteError as exc:
            log.warning("a channel for user %s's history was not stored: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not read the history now"}
        options = args[1] if len(args) == 2 and args[1] is not None else {}
        if not isinstance(options, dict):
            return _refuse(socket, "channel:history", "options must be an object")
        limit = options.get("limit", self._history_limit)
        before = options.get("before")
        if not _is_int(limit) or limit < 1:
            return _refuse(socket, "channel:history", "limit must be a positive integer")
        if before is not None and not _is_int(before):
            return _refuse(socket, "channel:history", "before must be a message id")
        limit = min(limit, MAX_HISTORY_PAGE)
        try:
            if before is None:
                messages = await self._store.recent_messages(channel, limit)
            else:
                messages = await self._store.messages_before(channel, before, limit)
            messages = await with_reactions(self._reactions, messages)
        except StoreReadError as exc:
            log.warning("a history page for user %s was not read: %s", user.user_id, exc)
            return {"ok": False, "error": "the server could not read the history now"}
        return {"ok": True, "messages": [m.wire() for m in messages]}


def user_room(user_id: str) -> str:
    """The room of a user's sockets."""
    return f"user:{user_id}"


def _remember(recent: dict[str, float], user_id: str, seconds: float) -> None:
    """Note ``user_id`` now (trio time) in ``recent``, a dict in insertion order, and forget
    the entries older than ``seconds``."""
    now = trio.current_time()
    drop_stale_front(recent, lambda noted: noted < now - seconds)
    recent[user_id] = now


async def _disconnect(socket: Socket) -> None:
    socket.disconnect()


async def _let_go(socket: Socket) -> None:
    await trio.sleep(TURNED_AWAY_SECONDS)
    socket.disconnect()


def _not_joined(socket: Socket) -> str:
    turned_away: str | None = socket.data.get(TURNED_AWAY)
    return "not connected" if turned_away is None else f"you have not joined: {turned_away}"


def _rate_limited(socket: Socket, event: str, wait: float, reason: str) -> Ack:
    """Told twice: in the ack, and as an event for clients that send without one."""
    retry_ms = math.ceil(wait * 1000)
    socket.emit("rate-limited", {"event": event, "retryAfter": retry_ms})
    ack = _refuse(
        socket, event, f"{reason}; try again in {retry_ms / 1000:.1f} s", label="rate limited"
    )
    ack["retryAfter"] = retry_ms
    return ack


def _refuse(socket: Socket, event: str, reason: str, *, label: str = "invalid event") -> Ack:
    log.info("refused %s from socket %s: %s", event, socket.id, reason)
    socket.namespace.metrics.reject(label)
    return {"ok": False, "error": reason}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
