"""What a joining socket is sent (the `channels` history and the `users` list), exact
against what this node has shown: nothing missed, nothing twice.

The Greeting keeps what that needs: the highest message id every message up to which has
been shown (``visible_id``), each original channel's last broadcasts, and a count of the
changes a connect snapshot must not straddle (a user created or removed, a message
deleted, edited or reacted to). In cluster mode it also keeps who the log lately showed
going offline or leaving, since Redis leaves out of a snapshot the users online anywhere.
"""

import heapq
from collections import deque
from collections.abc import Callable, Mapping, MutableSequence

import trio

from minidiscord.oldest_first import drop_stale_front
from minidiscord.sockets import Encoded

from .models import CHANNELS, Message, User
from .payloads import ChannelsPayload, UsersPayload
from .reactions.history import snapshot_with_reactions
from .reactions.store import ReactionStore
from .snapshots import SharedReads, for_user
from .store import Store
from .store.base import Snapshot
from .wentoffline import WentOffline

# Attempts at reading a connect snapshot that no user change overlapped (see snapshot).
SNAPSHOT_TRIES = 3
# Offline users last seen longer ago than this are left out of the `users` list.
LISTED_OFFLINE_MS = 30 * 24 * 3600 * 1000
# Cluster mode: how long (seconds) a user who left is remembered, so that a connect
# snapshot read before their leave was shown does not list them.
GONE_SECONDS = 60.0


class Greeting:
    def __init__(
        self,
        store: Store,
        reactions: ReactionStore,
        *,
        history_limit: int,
        listed_offline: int | None,
        cluster: bool,
        online_users: Callable[[], Mapping[str, User]],
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._reactions = reactions
        self._history_limit = history_limit
        # None: every user that has not left is listed, however long ago they were seen.
        self._listed_offline = listed_offline
        self._cluster = cluster
        self._online_users = online_users
        self._clock = clock
        self._changes = 0
        # The highest message id every message up to which has been broadcast (None until
        # the server starts), and the last messages broadcast per channel: together they
        # let a connect snapshot say exactly which messages the newcomer gets as history.
        self.visible_id: int | None = None
        self._recent: dict[str, deque[Message]] = {
            name: deque(maxlen=history_limit) for name in CHANNELS
        }
        # Cluster mode: users who left lately; who went offline lately.
        self._gone: dict[str, float] = {}
        self._offline_lately = WentOffline(GONE_SECONDS)
        self._reads: SharedReads[tuple[Snapshot, bool]] = SharedReads(self._read_snapshot)
        self._users_payload = UsersPayload()
        self._channels_payload = ChannelsPayload()

    # -- what this node showed (no awaits) -----------------------------------------------

    def changed(self) -> None:
        """A user was created or removed, or a message changed: a snapshot read meanwhile
        is read again."""
        self._changes += 1

    def at(self, position: int) -> None:
        self.visible_id = position

    def shown(self, message: Message, position: int) -> None:
        self.visible_id = position
        # Kept for the connect snapshot's history, which is of the original five only.
        recent = self._recent.get(message.channel)
        if recent is not None:
            recent.append(message)

    def recent(self, channel: str) -> MutableSequence[Message]:
        """The channel's last broadcasts, to change in place (empty for any but the
        original five); call ``history_changed`` after."""
        return self._recent.get(channel, [])

    def history_changed(self) -> None:
        """A `channels` payload made before holds what changed."""
        self._channels_payload.forget()

    def resync(self, position: int) -> None:
        """Cluster mode: what was shown before ``position`` is not in the log any more."""
        self.visible_id = position
        for recent in self._recent.values():
            recent.clear()
        self._channels_payload.forget()

    def went_offline(self, position: int, user: User) -> None:
        """Cluster mode: online when a snapshot may have been read, offline from
        ``position`` on."""
        self._offline_lately.note(position, user, self._clock())

    def left(self, user_id: str) -> None:
        """Cluster mode: a user left; a snapshot read before must not list them."""
        self._offline_lately.forget(user_id)
        remember(self._gone, user_id, GONE_SECONDS)

    def left_lately(self, user_id: str) -> bool:
        return user_id in self._gone

    # -- a connect ---------------------------------------------------------------------

    async def snapshot(self, user_id: str) -> Snapshot:
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

    def channels(self, snapshot: Snapshot) -> Encoded:
        """The `channels` payload for a socket joining now (no await)."""
        return self._channels_payload.encode(
            lambda: self._history(snapshot),
            read=snapshot.messages,
            last_id=snapshot.last_id,
            visible=self.visible_id,
        )

    def users(self, snapshot: Snapshot) -> Encoded:
        """The `users` payload for a socket joining now (no await)."""
        return self._users_payload.encode(self._listed_users(snapshot), self._online_users())

    async def _read_snapshot(self, connecting: frozenset[str]) -> tuple[Snapshot, bool]:
        """One store read for these connecting users, and whether a user change overlapped
        it. In cluster mode Redis leaves out the users online anywhere: this node mirrors
        them (see _listed_users); and those not yet shown, whose first arrival the log will
        announce."""
        changes_before = self._changes
        skip_online = self._cluster
        if self._listed_offline is None:
            users_max, seen_since = None, 0
        else:
            # The connecting users (not yet online) and, unless left out, the online users
            # may rank among the most recently seen too: room for them as well.
            users_max = self._listed_offline + len(connecting)
            if not skip_online:
                users_max += len(self._online_users())
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
        online = self._online_users()
        # In cluster mode a user who left while the snapshot was read is gone.
        gone = self._gone
        offline = [u for u in snapshot.users if u.user_id not in online and u.user_id not in gone]
        seen = snapshot.seen
        if self._cluster:
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
        visible = snapshot.last_id if self.visible_id is None else self.visible_id
        limit = self._history_limit
        history = {}
        for name in CHANNELS:
            stored = [m for m in snapshot.messages.get(name, ()) if m.id <= visible]
            newer = [m for m in self._recent[name] if snapshot.last_id < m.id <= visible]
            history[name] = (stored + newer)[-limit:] if limit > 0 else []
        return history


def remember(recent: dict[str, float], user_id: str, seconds: float) -> None:
    """Note ``user_id`` now (trio time) in ``recent``, a dict in insertion order, and forget
    the entries older than ``seconds``."""
    now = trio.current_time()
    drop_stale_front(recent, lambda noted: noted < now - seconds)
    recent[user_id] = now
