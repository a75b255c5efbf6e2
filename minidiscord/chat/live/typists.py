"""Typists: who is typing in which channel, and when each channel's list is due (sans I/O).

Typing is never stored and never sent per keystroke. A client says `typing:start` every
couple of seconds while its user types; the server keeps, per channel, who is typing until
when, and sends each channel's whole list (a snapshot) when it changed, at most once per
``flush`` seconds, and again every ``keepalive`` seconds while it is not empty. A snapshot
is idempotent, so it may travel volatile: a lost one is mended by the next, and a client
forgets a list it has not heard again within its own timeout (the list that empties has no
next one, and is sent as any event). The cost is one frame per channel member per
``flush`` at most, however many people type.

Every method takes the time (trio's clock, seconds); nothing here awaits or reads a clock.
"""

from dataclasses import dataclass

# A typist who sent no `typing:start` for this long has stopped (seconds). The web client
# repeats its start every 2 s while typing (THROTTLE in web/typing.js).
EXPIRE_AFTER = 6.0
# At most one snapshot per channel this often (seconds): what coalesces a crowd.
FLUSH = 1.0
# A channel where someone types gets its snapshot again this often (seconds), so a client
# that missed one (volatile) or joined since learns the list; clients drop a list not
# heard again within 3 keepalives.
KEEPALIVE = 4.0
# A typist still typing is told to the other nodes again this often (seconds): each node
# keeps its own Typists, and forgets a typist EXPIRE_AFTER after it last heard of them.
SHARE_EVERY = 3.0
# The longest list a snapshot carries (the most recent typists): a client shows a few
# names and "several people are typing" beyond.
MAX_LISTED = 10


@dataclass(frozen=True, slots=True)
class Typist:
    user_id: str
    username: str

    def wire(self) -> dict[str, str]:
        return {"userId": self.user_id, "username": self.username}


@dataclass(slots=True)
class _Typing:
    typist: Typist
    until: float
    # Who started it (a socket id): its disconnect stops it.
    source: str
    # When it was last shared with the other nodes.
    shared: float


class Typists:
    def __init__(
        self,
        *,
        expire_after: float = EXPIRE_AFTER,
        flush: float = FLUSH,
        keepalive: float = KEEPALIVE,
    ) -> None:
        self._expire_after = expire_after
        self._flush = flush
        self._keepalive = keepalive
        # (channel, userId) -> its typing, in order of `until` (a refresh moves it to the
        # end: every entry lives the same time), so expiry looks only at the front.
        self._typing: dict[tuple[str, str], _Typing] = {}
        # channel -> userId -> typist, most recent start last.
        self._channels: dict[str, dict[str, Typist]] = {}
        # source -> the keys it started.
        self._sources: dict[str, set[tuple[str, str]]] = {}
        # Channels whose list changed since their last snapshot.
        self._changed: set[str] = set()
        # channel -> when its last snapshot was sent, for channels with typists or changes.
        self._sent: dict[str, float] = {}

    def start(
        self, channel: str, typist: Typist, source: str, now: float, *, shared: bool = True
    ) -> None:
        """``shared``: the start came as an effect every node applies (not a refresh this
        node keeps to itself)."""
        key = (channel, typist.user_id)
        known = self._forget(key)
        last_shared = now if shared or known is None else known.shared
        self._typing[key] = _Typing(typist, now + self._expire_after, source, last_shared)
        self._sources.setdefault(source, set()).add(key)
        listed = self._channels.setdefault(channel, {})
        if known is None or known.typist != typist:
            listed.pop(typist.user_id, None)
            listed[typist.user_id] = typist
            self._changed.add(channel)

    def to_share(self, channel: str, user_id: str, now: float) -> bool:
        """Whether a start must be shared with every node (new, or not shared lately)."""
        typing = self._typing.get((channel, user_id))
        return typing is None or now - typing.shared >= SHARE_EVERY

    def has_source(self, source: str) -> bool:
        return source in self._sources

    def stop(self, channel: str, user_id: str) -> bool:
        """The user sent a message there (or said it stopped); False when they were not
        typing there (nothing changed)."""
        if self._forget((channel, user_id)) is None:
            return False
        self._unlist(channel, user_id)
        return True

    def drop_source(self, source: str) -> None:
        """A socket went: whatever it started stops."""
        for key in list(self._sources.get(source, ())):
            self._forget(key)
            self._unlist(*key)

    def drop_user(self, user_id: str) -> None:
        """A user left or was let go: it stops typing everywhere."""
        for key in [key for key in self._typing if key[1] == user_id]:
            self._forget(key)
            self._unlist(*key)

    def _forget(self, key: tuple[str, str]) -> _Typing | None:
        typing = self._typing.pop(key, None)
        if typing is not None:
            keys = self._sources[typing.source]
            keys.discard(key)
            if not keys:
                del self._sources[typing.source]
        return typing

    def _unlist(self, channel: str, user_id: str) -> None:
        listed = self._channels.get(channel)
        if listed is not None and listed.pop(user_id, None) is not None:
            self._changed.add(channel)
            if not listed:
                del self._channels[channel]

    def expire(self, now: float) -> None:
        while self._typing:
            key, typing = next(iter(self._typing.items()))
            if typing.until > now:
                return
            self._forget(key)
            self._unlist(*key)

    def due(self, now: float) -> dict[str, list[Typist]]:
        """The snapshots to send now (each channel's typists in the order they started, the
        MAX_LISTED most recent), marked sent."""
        self.expire(now)
        snapshots: dict[str, list[Typist]] = {}
        for channel in self._changed | self._channels.keys():
            last = self._sent.get(channel)
            if channel in self._changed:
                if last is not None and now - last < self._flush:
                    continue
            elif last is not None and now - last < self._keepalive:
                continue
            listed = self._channels.get(channel, {})
            snapshots[channel] = list(listed.values())[-MAX_LISTED:]
        for channel in snapshots:
            self._changed.discard(channel)
            self._sent[channel] = now
        # A quiet channel told it is empty is forgotten once its flush window passed.
        for channel in [c for c, last in self._sent.items() if now - last >= self._flush]:
            if channel not in self._channels and channel not in self._changed:
                del self._sent[channel]
        return snapshots

    def next_wake(self) -> float | None:
        """When ``due`` may next have something (None: nothing pending at all)."""
        wakes: list[float] = []
        if self._typing:
            wakes.append(next(iter(self._typing.values())).until)
        for channel in self._changed | self._channels.keys():
            last = self._sent.get(channel)
            if last is None:
                return float("-inf")
            wakes.append(last + (self._flush if channel in self._changed else self._keepalive))
        return min(wakes, default=None)

    def typing_in(self, channel: str) -> list[Typist]:
        return list(self._channels.get(channel, {}).values())

    def __len__(self) -> int:
        return len(self._typing)
