"""Who may open one more TCP connection: a cap per client address and one on all of them,
and a rate of new ones per client address.

A connection costs a file descriptor from the moment it is accepted, long before any
request says who it is, and a client that opens connections and sends nothing holds them
until the read timeout, then opens them again. So both front ends count connections at
accept time, by :func:`~minidiscord.addresses.address_key` (an IPv4 address, or an IPv6
/64), and refuse one over the cap with a short HTTP answer and an immediate close.

All client connections together stay below the process's file limit by a reserve (the
store, logs, listeners and the accept loop need descriptors too: without them the server
cannot even accept the connection that would tell a client to go away), and no single
address may hold more than half of what the clients get, whatever the option says.
Connections from a trusted proxy are exempt from the per-address cap and rate (each carries
many clients, whose sessions the engine then limits by their forwarded address) but not
from the cap on all.

The caps bound what an address holds, not how fast it churns: a client that opens
connections and closes them at once holds few, yet one such Python process took 74% of the
native front end's core (5,300 plain connections/s; over TLS, 44% in 310 handshakes/s) and
all of hypercorn's, where others' answers then waited up to 78 ms (p99;
``scripts/connection_churn.py``). So new connections per address are also rate-limited (a
token bucket, ``--ip-connection-rate``); one over the rate is refused like one over the cap,
before any TLS handshake, for about a third of what serving it costs.

An HTTP/2 connection (hypercorn's) carries up to 100 requests at once, each of which may wait
as long as its client keeps the connection alive (a request whose body never comes, kept
alive by PINGs), so the same object also counts the open HTTP/2 streams of each address
under the same per-address cap (:mod:`..hypercorn_h2limits`): one address gets as many
requests in flight over HTTP/2 as over HTTP/1.1 connections.

The same object counts the bytes of unfinished WebSocket messages per client address (a
message may be up to maxPayload, and one address may open thousands of connections, each
holding one): past the address's budget the message that would cross it is refused like
an oversized one (close 1009). Here the address is the client's, forwarded ones included.
"""

import logging
import os
import resource
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import trio

from ..addresses import TrustedProxies, address_key
from ..config import Settings
from ..limits import ByteBudgets, KeyedBuckets, Rate

logger = logging.getLogger("minidiscord.frontend")

# Descriptors kept back from clients: the store, log files, the listeners, the accept loop.
RESERVED_DESCRIPTORS = 100
# A refusal is logged at most once per address (and once for the server being full) per
# this many seconds, with the number refused since: a flood must not flood the log.
LOG_INTERVAL = 60.0
# The log's key for refusals because every client connection is taken.
_ALL = "*"
# Before an address key: the log's key for refusals of that address's HTTP/2 streams.
_STREAMS = "streams "
# Before an address key: the log's key for refusals of that address's connections over
# the rate.
_ARRIVALS = "arrivals "


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str

    @property
    def response(self) -> bytes:
        body = f"{self.reason}\n".encode()
        phrase = "Too Many Requests" if self.status == 429 else "Service Unavailable"
        return (
            f"HTTP/1.1 {self.status} {phrase}\r\ncontent-type: text/plain\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode() + body


TOO_MANY_FROM_ADDRESS = Refusal(429, "too many connections from your address")
ARRIVING_TOO_FAST = Refusal(429, "too many new connections from your address")
SERVER_FULL = Refusal(503, "the server has no room for more connections")


def raise_file_limit() -> int:
    """Raise the soft limit on open files to the hard one (where allowed); the soft limit
    now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # Not allowed everywhere (macOS refuses an unlimited soft limit): keep what we have.
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


def connection_budget(file_limit: int, reserve: int = RESERVED_DESCRIPTORS) -> int:
    """How many client connections may be open at once under ``file_limit`` descriptors."""
    if file_limit == resource.RLIM_INFINITY:
        file_limit = 1 << 20  # what Linux allows at most (nr_open) by default
    return max(file_limit - reserve, 2)


class ConnectionLimits:
    """Counts the open connections per address key and in all; one object per server."""

    def __init__(
        self,
        per_address: int | None,
        total: int,
        trusted: TrustedProxies,
        *,
        unfinished_bytes: int | None = None,
        arrival_rate: Rate | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.total = total
        # One address may never take the last descriptors, whatever the option says.
        self.per_address = min(per_address or total, total // 2)
        self._trusted = trusted
        self._clock = clock
        self._open: dict[str, int] = {}
        self.open = 0
        # Per log key: when its last refusal was logged, and how many were refused since.
        self._logged: dict[str, tuple[float, int]] = {}
        # Bytes of unfinished WebSocket messages, per client address.
        self.unfinished = ByteBudgets(unfinished_bytes)
        # Open HTTP/2 streams per address key (trusted proxies' are not counted).
        self._streams: dict[str, int] = {}
        # New connections per address key (trusted proxies' are not counted).
        self._arrivals = KeyedBuckets(arrival_rate)

    @classmethod
    def for_settings(cls, settings: Settings) -> "ConnectionLimits":
        """The limits of a server starting now (raises the file limit as far as allowed)."""
        return cls(
            settings.ip_max_connections,
            connection_budget(raise_file_limit()),
            TrustedProxies(settings.forwarded_allow_ips),
            unfinished_bytes=settings.ip_buffer_bytes,
            arrival_rate=settings.ip_connection_rate,
        )

    def client_key(self, scope: Mapping[str, Any]) -> str:
        """The address key of the client a request (an ASGI scope, or anything with its
        ``client`` and ``headers``) comes from, through trusted proxies."""
        client = self._trusted.client_of(dict(scope)) or scope.get("client")
        return address_key(str(client[0])) if client else "unknown"

    def stream_key(self, ip: str) -> str | None:
        """The key an HTTP/2 stream from ``ip`` counts under; None for a trusted proxy."""
        return None if self._trusted.trusts(ip) else address_key(ip)

    def open_stream(self, key: str) -> bool:
        """Count one more open HTTP/2 stream for ``key``; False (nothing counted) when the
        address already has as many as the per-address cap."""
        held = self._streams.get(key, 0)
        if held >= self.per_address:
            self._log_stream_refusal(key)
            return False
        self._streams[key] = held + 1
        return True

    def close_stream(self, key: str) -> None:
        """An HTTP/2 stream :meth:`open_stream` counted has closed."""
        left = self._streams[key] - 1
        if left:
            self._streams[key] = left
        else:
            del self._streams[key]

    def connection(self, ip: str) -> "CountedConnection":
        """While inside, a connection from ``ip`` counts; ``as`` gets why it is refused, if it
        is (a refused one counts for nothing)."""
        return CountedConnection(self, ip)

    def _refused_since_last_line(self, log_key: str) -> int | None:
        """How many refusals under ``log_key`` went unlogged since its last line, if one is
        due now (this refusal's); None while its interval runs (this one is counted)."""
        now = self._clock()
        last, refused = self._logged.get(log_key, (-LOG_INTERVAL, 0))
        if now - last < LOG_INTERVAL:
            self._logged[log_key] = (last, refused + 1)
            return None
        if len(self._logged) > 1000:
            # Keys whose interval is over hold only a count no line would report.
            self._logged = {k: v for k, v in self._logged.items() if now - v[0] < LOG_INTERVAL}
        self._logged[log_key] = (now, 0)
        return refused

    def _log_stream_refusal(self, key: str) -> None:
        refused = self._refused_since_last_line(_STREAMS + key)
        if refused is not None:
            logger.warning(
                "refusing HTTP/2 streams from %s: %d open, all one address may have "
                "(%d more refused since the last such line)",
                key,
                self._streams.get(key, 0),
                refused,
            )

    def _log_refusal(self, log_key: str) -> None:
        refused = self._refused_since_last_line(log_key)
        if refused is None:
            return
        if log_key == _ALL:
            logger.warning(
                "refusing connections: %d client connections open, all the file limit "
                "allows (%d more refused since the last such line)",
                self.open,
                refused,
            )
        elif log_key.startswith(_ARRIVALS):
            logger.warning(
                "refusing connections from %s: new ones faster than %s (burst:per second) "
                "(%d more refused since the last such line)",
                log_key.removeprefix(_ARRIVALS),
                self._arrivals.rate,
                refused,
            )
        else:
            logger.warning(
                "refusing connections from %s: %d open, all one address may have "
                "(%d more refused since the last such line)",
                log_key,
                self._open.get(log_key, 0),
                refused,
            )


def refuse(stream: trio.abc.Stream, refusal: Refusal, *, over_tls: bool = False) -> None:
    """Tell the client why (plain HTTP only: a TLS client, whether ``stream`` is its
    ``trio.SSLStream`` or, ``over_tls``, the TCP stream under it, is refused before its
    handshake, with nothing), then close the connection.

    At once, without a trip through the scheduler: a client churning connections is refused
    thousands of times a second, and each refusal must cost far less than serving the
    connection would (awaiting the write and a forceful close cost about 100 us more).
    """
    tls = over_tls or isinstance(stream, trio.SSLStream)
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return
    sock = stream.socket
    if not tls:
        # trio's sockets are non-blocking, and a fresh one's buffer takes a few hundred
        # bytes at once; a client already gone just misses why.
        with suppress(OSError):
            os.write(sock.fileno(), refusal.response)
    sock.close()


def peer_ip(stream: trio.abc.Stream) -> str | None:
    """The address a plain or TLS socket stream comes from; None if the peer is gone."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return None
    try:
        return str(stream.socket.getpeername()[0])
    except OSError:
        return None


class CountedConnection:
    """:meth:`ConnectionLimits.connection`: a class, not a generator, because it is held for
    as long as the connection lives (a suspended generator and its context manager cost
    about 400 bytes more per connection)."""

    __slots__ = ("_counted", "_ip", "_key", "_limits")

    def __init__(self, limits: ConnectionLimits, ip: str) -> None:
        self._limits = limits
        self._ip = ip
        self._counted = False
        # The address key counted (None for a trusted proxy's: they count in the total only).
        self._key: str | None = None

    def __enter__(self) -> Refusal | None:
        limits = self._limits
        key = None if limits._trusted.trusts(self._ip) else address_key(self._ip)
        if limits.open >= limits.total:
            limits._log_refusal(_ALL)
            return SERVER_FULL
        if key is not None and limits._open.get(key, 0) >= limits.per_address:
            limits._log_refusal(key)
            return TOO_MANY_FROM_ADDRESS
        if key is not None and limits._arrivals.take(key, limits._clock()):
            limits._log_refusal(_ARRIVALS + key)
            return ARRIVING_TOO_FAST
        limits.open += 1
        if key is not None:
            limits._open[key] = limits._open.get(key, 0) + 1
        self._key = key
        self._counted = True
        return None

    def __exit__(self, *_: object) -> None:
        if not self._counted:
            return
        self._counted = False
        limits = self._limits
        limits.open -= 1
        key = self._key
        if key is not None:
            left = limits._open[key] - 1
            if left:
                limits._open[key] = left
            else:
                del limits._open[key]
