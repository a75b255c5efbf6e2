"""ChatServer: the original chat's events (and our additive ones) on the Socket.IO layer,
composed of features (features.py): each answers its own events and applies its own
effects; the server joins and lets go of sockets, keeps who is online, and applies the
effects on users and messages already shown.

Every socket joins every channel room; presence announcements go to the `welcome` room.
Client mistakes never raise out of a handler: they are answered in the ack (or refused at
connect) and logged at INFO, without a traceback. A client that sent without an ack
callback (the original React front end) is told of a refused message or leave by a System
line instead (see notices), since it reads nothing else. The same goes for a refused connect:
a client that says it reads CONNECT_ERROR (``connectErrors: true`` in its auth) gets one; any
other is let in without joining, told why in a System line, and let go (turnedaway.py).

What a client may cost is bounded: messages per user and per address, history pages per
user, new users per address (token buckets), and the `users` list a connect receives
(everyone online, plus the offline users most recently seen).

The features, each in its own module: joining (identity.py: who connects; greeting.py:
what a joining socket is sent), sending (sending.py), leaving (leaving.py), history pages
(history.py), moderation and the admin view (moderation/), channels and direct
conversations (channels/), edits, reactions and search (messageevents.py), typing and
mentions (live/), read positions (reads/).
"""

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from types import MappingProxyType
from typing import Any

import trio

from minidiscord.limits import Rate
from minidiscord.sockets import ConnectionRefused, InMemoryAdapter, Socket, SocketServer
from minidiscord.sockets.recovery import RECOVERABLE_REASONS

from .accounts.service import Accounts, AuthMode
from .accounts.sessions import Lifetimes
from .channels.events import ChannelEvents
from .channels.memory import MemoryChannels
from .channels.registry import ChannelRegistry, Need
from .channels.store import ChannelStore
from .clock import wall_clock_ms
from .features import Applier, always, effect_table, install
from .feed import Feed
from .greeting import Greeting, remember
from .history import HistoryEvents
from .identity import LOGIN, Identities
from .leaving import LEAVING, LeaveEvents
from .live import mentions
from .live.typing_events import TypingEvents
from .messageevents import message_handlers, shown_change
from .models import CHANNELS, ROLES, WELCOME_CHANNEL, Message, Role, User
from .moderation import effects
from .moderation.admin_events import AdminEvents
from .moderation.directory import StoreDirectory
from .moderation.effects import Do, Effect
from .moderation.events import ModerationEvents
from .moderation.service import Moderation
from .moderation.timeouts import Timeouts
from .presence import Presence
from .reactions.memory import MemoryReactions
from .reactions.store import ReactionStore
from .reads import events as reads
from .reads.memory import MemoryReads
from .reads.store import ReadStore
from .requests import Handler, is_int
from .search.scan import ScanSearch
from .search.store import MessageSearch
from .sending import SendEvents
from .store import Store
from .store.base import StoreReadError, StoreWriteError
from .turnedaway import TURNED_AWAY_SECONDS, disconnect, turn_away

__all__ = ["TURNED_AWAY_SECONDS", "ChatServer", "user_room"]

log = logging.getLogger(__name__)


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
        self._ns = sio.of("/")
        self._store = store
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
        # Cluster mode: only the feed's log reader makes events visible; the users online
        # anywhere, as of the last log entry this node applied.
        self._feed = feed
        self._online: dict[str, User] = {}
        self._online_view = MappingProxyType(self._online)
        # Closes every client's connection without a Socket.IO DISCONNECT, so that clients
        # reconnect (the app's engine does it; the chat does not reach through sockets).
        self._reconnect_all = reconnect_all
        self._reactions = reactions or MemoryReactions()
        self._greeting = Greeting(
            store,
            self._reactions,
            history_limit=history_limit,
            listed_offline=users_listed_offline,
            cluster=feed is not None,
            online_users=self.online_users,
            clock=clock,
        )
        # Moderation needs accounts (roles, bans and the audit log are kept beside them).
        self._timeouts = Timeouts(clock)
        self._moderation: Moderation | None = None
        moderated: dict[str, Handler] = {}
        if accounts is not None:
            accounts.on_sessions_ended(self._let_go_of_logins)
            self._moderation = Moderation(accounts, clock=clock)
            moderated = {
                **ModerationEvents(self, self._moderation).handlers(),
                **AdminEvents(self, self._moderation, StoreDirectory(store)).handlers(),
            }
        elif auth == "accounts":
            raise ValueError("auth 'accounts' needs the accounts")
        # Someone else's `message:delete` is moderation's: the edits' handler passes it on.
        moderators_delete = moderated.pop("message:delete", None)
        self._identities = Identities(
            store,
            accounts=accounts,
            auth=auth,
            moderation=self._moderation,
            guest_lifetimes=guest_lifetimes,
            new_user_rate=ip_new_user_rate,
            online_users=self.online_users,
            changed=self._greeting.changed,
            clock=clock,
        )
        # Created channels and direct conversations (channels/): the one access check.
        self._channels = ChannelRegistry(channel_store or MemoryChannels(), store)
        self._channel_events = ChannelEvents(
            self, self._ns, self._channels, self._moderation, clock
        )
        self._history = HistoryEvents(
            store, self._channels, self._reactions, limit=history_limit, rate=history_rate
        )
        self._typing = TypingEvents(
            self._ns,
            self.moderate,
            check=lambda user_id, raw: self._channels.check(user_id, raw, Need.POST),
            audience=self._channel_events.audience,
        )
        self._mentions = mentions.Mentions(
            self.online_users, store.list_users, self.moderate, readable=self.readable
        )
        self._read_events = reads.ReadEvents(
            read_store or MemoryReads(),
            newest=lambda: self._greeting.visible_id,
            share=self.moderate,
            readable=self.readable,
        )
        sending = SendEvents(
            self._ns,
            store,
            self._channels,
            timeouts=self._timeouts,
            mentions=self._mentions,
            feed=feed,
            show=lambda message: self._show(message, message.id),
            clock=clock,
            rate=rate_limit,
            address_rate=ip_message_rate,
        )
        leaving = LeaveEvents(
            store,
            self,
            self._presence,
            accounts=accounts,
            feed=feed,
            forget_reads=self._read_events.user_left,
            clock=clock,
        )
        install(
            self._ns,
            [
                {"connect": self._on_connect, "disconnect": self._on_disconnect},
                sending.handlers(),
                leaving.handlers(),
                self._history.handlers(),
                moderated,
                self._channel_events.handlers(),
                # Issue 18: edits, an author's deletes, reactions, search (messageevents.py).
                message_handlers(
                    self,
                    store,
                    self._reactions,
                    search or ScanSearch(store),
                    self._channels,
                    clock=clock,
                    send_rate=rate_limit,
                    read_rate=history_rate,
                    moderators_delete=moderators_delete,
                ),
                self._typing.handlers(),
                self._read_events.handlers(),
            ],
        )
        # What each effect does on this node (every node's, in cluster mode).
        self._effects = effect_table(
            [
                self._own_effects(),
                self._channel_events.effects(),
                {
                    Do.MENTION: always(
                        lambda effect: mentions.deliver(self._ns, effect, user_room)
                    ),
                    Do.READ: always(lambda effect: reads.deliver(self._ns, effect, user_room)),
                    Do.TYPING: always(self._typing.apply),
                },
            ]
        )
        if feed is not None:
            feed.attach(self)

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
            self._greeting.at((await self._store.snapshot((), 0, users_max=0)).last_id)
        # In cluster mode the feed's reader sets it (reset) before the first connect.

    def online_users(self) -> Mapping[str, User]:
        """Who is online: this node's sockets' users, or in cluster mode everyone's."""
        return self._presence.users() if self._feed is None else self._online_view

    def readable(self, user_id: str, channel: object) -> str:
        return self._channels.check(user_id, channel, Need.READ)

    async def known_user(self, asker: str, user_id: str) -> bool:
        return await self._history.known_user(asker, user_id)

    # -- connect / disconnect ----------------------------------------------------------

    async def _on_connect(self, socket: Socket, auth: object) -> None:
        fields: dict[str, Any] = auth if isinstance(auth, dict) else {}
        try:
            try:
                if socket.recovered and "user" in socket.data:
                    await self._identities.check_recovered_login(socket)
                    user: User = socket.data["user"]
                    if LOGIN not in socket.data:
                        # A guest banned while away (an account's ban ended its sessions).
                        try:
                            await self._identities.refuse_banned(user.user_id)
                        except ConnectionRefused:
                            del socket.data["user"]
                            raise
                    back = socket.id not in self._going and user.user_id not in self._left
                    if self._feed is not None and back:
                        # It went offline after the grace: it comes back through the log.
                        await self._feed.arrive(socket.id, user)
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
            turn_away(socket, refusal.message, self._clock())

    async def _join(self, socket: Socket, fields: dict[str, Any]) -> None:
        user, session, new = await self._identities.identify(socket, fields)
        # Below, `restored is None` means a user nobody has seen join yet.
        restored = None if new else (user, session)
        snapshot = await self._greeting.snapshot(user.user_id)
        if socket.id not in self._ns.sockets:
            # The connection closed while we awaited the store; a user nobody ever saw
            # join is not kept, so their first real connect is still announced (an
            # account's user stays: the account is linked to it).
            if restored is None and user.role is Role.GUEST:
                await self._identities.forget_unseen(user)
            return
        if all(other.user_id != user.user_id for other in snapshot.users):
            # Another tab of this user sent `user:leave` while we were reading.
            raise ConnectionRefused("this session has ended; connect again to start a new one")
        if self._feed is not None:
            await self._arrive(socket, user)
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
        socket.emit_volatile("channels", self._greeting.channels(snapshot))
        users = self._greeting.users(snapshot)
        if self._feed is not None:
            # The last of the greeting carries the log position it is of: a client that has
            # it all can recover from there, on any node.
            visible = self._greeting.visible_id
            assert visible is not None
            with self._feed.offset_at(visible):
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

    async def _arrive(self, socket: Socket, user: User) -> None:
        """Cluster mode: register the socket and wait until this node has shown the user
        online; then the user list and history boundary are both from that log position."""
        assert self._feed is not None
        await self._feed.arrive(socket.id, user)
        if self._greeting.left_lately(user.user_id):
            # It left (from a tab on any node) while we were reading or registering.
            self._feed.depart(socket.id)
            raise ConnectionRefused("this session has ended; connect again to start a new one")

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
        self._greeting.at(position)
        self._apply_moderation(effect)

    def apply_effect(self, effect: Effect) -> None:
        """One node on SQLite: an effect ``minidiscord admin`` put in the outbox
        (moderation/upkeep.py)."""
        self._apply_moderation(effect)

    def _apply_moderation(self, effect: Effect) -> None:
        what = effect.get("do")
        apply = self._effects.get(what) if isinstance(what, str) else None
        if apply is None or not apply(effect):
            log.warning("a moderation effect could not be applied: %r", effect)

    def _own_effects(self) -> dict[Do, Applier]:
        """The effects on users and on messages already shown."""
        return {
            Do.DELETE: self._message_changed,
            Do.EDIT: self._message_changed,
            Do.REACT: self._message_changed,
            Do.KICK: self._kicked,
            Do.TIMEOUT: self._timed_out,
            Do.ROLE: self._changed_role,
            Do.LOGOUT: self._let_go_of_sessions,
            Do.FORGET: self._forget_removed,
        }

    def _message_changed(self, effect: Effect) -> bool:
        """A message deleted, edited or reacted to: its channel is told."""
        # A connect snapshot being read holds the message as it was: read it again.
        self._greeting.changed()
        channel, message_id = effect.get("channel"), effect.get("id")
        if not isinstance(channel, str):
            return False
        # Only the original five keep their recent broadcasts (for the `channels` payload).
        recent = self._greeting.recent(channel)
        if effect.get("do") == Do.DELETE:
            if not is_int(message_id):
                return False
            for kept in [m for m in recent if m.id == message_id]:
                recent.remove(kept)
            shown = "message:delete", {"channel": channel, "id": message_id}
        else:
            change = shown_change(effect, recent)
            if change is None:
                return False
            shown = change
        self._greeting.history_changed()
        self._channel_events.audience(channel).emit(*shown)
        return True

    def _kicked(self, effect: Effect) -> bool:
        user_id = effect.get("userId")
        if not isinstance(user_id, str):
            return False
        for own in self._sockets_of(user_id):
            own.disconnect()
        return True

    def _timed_out(self, effect: Effect) -> bool:
        user_id, until = effect.get("userId"), effect.get("until")
        if not isinstance(user_id, str) or not is_int(until):
            return False
        self._timeouts.set(user_id, until)
        return True

    def _sockets_of(self, user_id: str) -> list[Socket]:
        sockets = self._ns.sockets
        return [sockets[sid] for sid in self._presence.sockets_of(user_id) if sid in sockets]

    def _changed_role(self, effect: Effect) -> bool:
        user_id, role = effect.get("userId"), effect.get("role")
        if not isinstance(user_id, str) or role not in ROLES:
            return False
        self._set_role_here(user_id, Role(role))
        return True

    def _set_role_here(self, user_id: str, role: Role) -> None:
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

    async def _let_go_of_logins(self, digests: frozenset[bytes]) -> None:
        """Login sessions ended (logged out, revoked, a password changed): their sockets are
        disconnected on every node, as a server-side disconnect (clients do not reconnect
        on their own: they must log in again)."""
        try:
            await self.moderate(effects.logged_out(digests))
        except StoreWriteError as exc:
            # The sessions are ended in the store: their tabs are refused when they reconnect.
            log.warning("ended login sessions were not announced: %s", exc)

    def _let_go_of_sessions(self, effect: Effect) -> bool:
        sessions = effect.get("sessions")
        if not isinstance(sessions, list):
            return False
        hex_digests = {s for s in sessions if isinstance(s, str)}
        for socket in list(self._ns.sockets.values()):
            login: bytes | None = socket.data.get(LOGIN)
            if login is not None and login.hex() in hex_digests:
                # Not at once: the session may be ending in this socket's own handler
                # (`user:leave`), whose ack goes first.
                socket.start_soon(disconnect, socket)
        return True

    def _forget_removed(self, effect: Effect) -> bool:
        """One node on SQLite: users removed from the store by ``minidiscord admin
        prune-guests`` leave, as if they had left (cluster mode: the store's `leave`)."""
        users = effect.get("users")
        if not isinstance(users, list):
            return False
        for entry in users:
            if not isinstance(entry, dict):
                continue
            user_id, name = entry.get("userId"), entry.get("username")
            if not isinstance(user_id, str) or not isinstance(name, str):
                continue
            self.removed(user_id)
            self.end_tabs(User(user_id, name, None), spared=lambda _: False)
        return True

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

    # -- cluster mode: the log reader's entries (LogSink), each applied without awaits --

    def reset(self, position: int, online: list[User], *, resync: bool) -> None:
        still = {u.user_id for u in online}
        for user in self._online.values():
            if user.user_id not in still:
                self._greeting.went_offline(position, user)
        self._online.clear()
        self._online.update((u.user_id, u) for u in online)
        if not resync:
            self._greeting.at(position)
        else:
            # Messages between this node's last position and now are not in the log any
            # more: the sockets reconnect (a transport close, so clients do) and get a
            # fresh snapshot from the store.
            self._greeting.resync(position)
            if self._reconnect_all is not None:
                self._reconnect_all()
            else:
                for socket in list(self._ns.sockets.values()):
                    socket.disconnect(close=True)

    def message(self, position: int, message: Message) -> None:
        self._show(message, position)

    def _show(self, message: Message, position: int) -> None:
        """A stored message reaches its channel (one node: in store order; cluster mode:
        in log order)."""
        self._channel_events.audience(message.channel).emit(
            "message:channel", message.channel, message.wire()
        )
        self._typing.message_shown(message.channel, message.user_id)
        self._greeting.shown(message, position)
        self._ns.metrics.chat_messages.inc()

    def online(self, position: int, user: User, *, first: bool) -> None:
        self._greeting.at(position)
        self._online[user.user_id] = user
        others = self._others(user.user_id)
        if first:
            others.emit("user:join", user.join_wire())
            log.debug("user %s (%s) joined", user.user_id, user.username)
        else:
            others.emit("user:connect", user.presence_wire(connected=True))
            log.debug("user %s (%s) is online", user.user_id, user.username)

    def offline(self, position: int, user: User) -> None:
        self._greeting.at(position)
        mirrored = self._online.pop(user.user_id, None)
        if mirrored is None:
            return  # it left (announced as such) or was never shown online
        # The entry carries the user as it came online: a role given since is the mirror's.
        user = User(user.user_id, user.username, user.avatar, user.seq, mirrored.role)
        self._greeting.went_offline(position, user)
        self._others(user.user_id).emit("user:disconnect", user.presence_wire(connected=False))
        log.debug("user %s (%s) went offline", user.user_id, user.username)

    def leave(self, position: int, user: User) -> None:
        self._greeting.at(position)
        self._online.pop(user.user_id, None)
        self.removed(user.user_id)
        self._greeting.left(user.user_id)
        # The tab whose leave is being committed is disconnected by its handler, after its ack.
        self.end_tabs(user, spared=lambda own: LEAVING in own.data)
        log.debug("user %s (%s) left", user.user_id, user.username)

    def skipped(self, position: int) -> None:
        self._greeting.at(position)

    def _others(self, user_id: str) -> Any:
        """The welcome room without the sockets of ``user_id``: named by their room, not by
        this node's socket ids, so that what a node broadcasts for a log entry is for the
        same sockets on every node (a client recovers on another, cluster/recovery.py)."""
        return self._ns.to(WELCOME_CHANNEL).except_(user_room(user_id))

    def removed(self, user_id: str) -> None:
        """The user is gone from the store (leaving.py Roster)."""
        self._greeting.changed()
        recovery = self._ns.recovery
        if recovery is not None:
            # Kept while a dropped socket of theirs may still be recovered.
            remember(self._left, user_id, recovery.max_disconnection_duration)

    def end_tabs(
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


def user_room(user_id: str) -> str:
    """The room of a user's sockets."""
    return f"user:{user_id}"
