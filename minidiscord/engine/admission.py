"""Who may open a session: caps per server and per client address, the bytes an address
holds, and half-open sessions that give way to real ones.

A session is half-open from its handshake until the layer above accepts it (a Socket.IO
CONNECT); it then becomes established. Half-open sessions cost the server as much as
real ones but prove nothing, so they count less: when a new handshake finds its address
(or the server) full, the oldest half-open session of that address (or of the server) is
closed to make room, rather than the newcomer being refused. One client can then fill
only its own address's slots, with sessions that expire after the connect timeout.
"""

from typing import TYPE_CHECKING

from ..limits import ByteBudgets, KeyedBuckets
from .errors import RequestRefused, TransportError
from .outbox import SharedBudget
from .reasons import CloseReason, RejectLabel

if TYPE_CHECKING:
    from .session import EngineConfig, EngineSession


class ClientAddress:
    """The sessions of one client address (an IPv4 address or an IPv6 /64)."""

    __slots__ = ("budget", "half_open", "key", "sessions")

    def __init__(self, key: str, budget: SharedBudget) -> None:
        self.key = key
        self.sessions: set[EngineSession] = set()
        # Insertion-ordered: the oldest half-open session gives way first.
        self.half_open: dict[str, EngineSession] = {}
        self.budget = budget


class Admission:
    def __init__(self, config: "EngineConfig") -> None:
        self._config = config
        self._connect_buckets = KeyedBuckets(config.ip_connect_rate)
        self._addresses: dict[str, ClientAddress] = {}
        # Every half-open session of the server, oldest first.
        self._half_open: dict[str, EngineSession] = {}
        self.sessions = 0
        # Bytes of request bodies being read, per address (each may be up to maxPayload,
        # and one address may have a thousand sessions posting at once).
        self.unfinished = ByteBudgets(config.ip_buffer_bytes)

    def check(self, key: str, now: float) -> None:
        """Refuse a new session from ``key`` when it or the server has enough; may first
        close half-open sessions to make room."""
        config = self._config
        address = self._addresses.get(key)
        limit = config.ip_max_sessions
        if limit is not None and address is not None and len(address.sessions) >= limit:
            if not address.half_open:
                raise RequestRefused(
                    TransportError.TOO_MANY, f"more than {limit} sessions from one address"
                )
            self._give_way(next(iter(address.half_open.values())))
        if config.max_sessions is not None and self.sessions >= config.max_sessions:
            if not self._half_open:
                raise RequestRefused(TransportError.UNAVAILABLE, "the server is full")
            self._give_way(next(iter(self._half_open.values())))
        wait = self._connect_buckets.take(key, now)
        if wait:
            raise RequestRefused(
                TransportError.TOO_MANY, f"too many new sessions; retry in {wait:.1f} s"
            )

    def budget_for(self, key: str) -> SharedBudget:
        """The byte budget shared by every session of ``key``."""
        address = self._addresses.get(key)
        if address is None:
            address = self._addresses[key] = ClientAddress(
                key, SharedBudget(self._config.ip_buffer_bytes, lambda: self._trim(key))
            )
        return address.budget

    def opened(self, session: "EngineSession") -> None:
        address = self._addresses[session.request.address_key]
        address.sessions.add(session)
        address.half_open[session.sid] = session
        self._half_open[session.sid] = session
        self.sessions += 1

    def established(self, session: "EngineSession") -> None:
        address = self._addresses.get(session.request.address_key)
        if address is not None:
            address.half_open.pop(session.sid, None)
        self._half_open.pop(session.sid, None)

    def ended(self, session: "EngineSession") -> None:
        key = session.request.address_key
        address = self._addresses.get(key)
        if address is None or session not in address.sessions:
            return
        self.sessions -= 1
        address.sessions.discard(session)
        address.half_open.pop(session.sid, None)
        self._half_open.pop(session.sid, None)
        if not address.sessions:
            del self._addresses[key]

    def sessions_of(self, key: str) -> int:
        address = self._addresses.get(key)
        return 0 if address is None else len(address.sessions)

    def held_by(self, key: str) -> int:
        """Bytes queued or being written for the clients of ``key``."""
        address = self._addresses.get(key)
        return 0 if address is None else address.budget.held

    def _give_way(self, session: "EngineSession") -> None:
        # Taken out at once: the session ends later (its close handler runs in a task), and
        # the newcomer's slot must be free now.
        self.ended(session)
        session.refuse(
            RejectLabel.GAVE_WAY,
            "a half-open session gave way to a new one",
            reason=CloseReason.GAVE_WAY,
        )

    def _trim(self, key: str) -> None:
        """An address holds more than its byte budget: drop its client holding the most."""
        address = self._addresses.get(key)
        if address is None:
            return
        live = [session for session in address.sessions if not session.closed]
        if not live:
            return
        largest = max(live, key=lambda session: session.outbox.held)
        budget = address.budget
        largest.drop_slow_consumer(
            f"the clients of {key} hold {budget.held} bytes (limit {budget.limit})"
        )
