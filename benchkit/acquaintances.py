"""Whom each chat client of a load test has been told of: the `users` list of its greeting,
then every `user:join`.

A connect storm is over for a client once it knows every other client of the run. Counting
`user:join`s in all (each of N clients announced to those before it: N(N-1)/2) holds on one
node only: a cluster's log reader applies several arrivals at once, and clients that arrive
together find each other in their `users` lists and rightly get no `user:join` for each
other. So each client's own knowledge is checked: every other client once, nobody twice.

Clients are told apart by their usernames (``lt{tag}-{number}``, see
``scripts/loadtest.chat_auth``): found by a byte search in the frames, not by decoding
them, so that a storm's millions of `user:join`s cost the load generator little.
"""

from __future__ import annotations

import re
import time

USERS_PREFIX = b'42["users",'
JOIN_PREFIX = b'42["user:join",'
# The packets that tell a client of other users (the bulk clients hand them over whole).
PREFIXES = (USERS_PREFIX, JOIN_PREFIX)
# How many times one other user can be counted (a byte per user).
_MOST = 255


class Usernames:
    """Finds the numbers of one run's clients (usernames ``lt{tag}-{number}``) in packets."""

    __slots__ = ("marker", "pattern")

    def __init__(self, tag: str) -> None:
        self.marker = b'"username":"lt' + tag.encode() + b"-"
        self.pattern = re.compile(re.escape(self.marker) + rb'(\d+)"')

    def first(self, packet: bytes) -> int | None:
        """The number of the first of the run's users named in ``packet`` (a `user:join`
        names one): two searches, no regular expression (a storm has millions)."""
        marker = self.marker
        start = packet.find(marker)
        if start < 0:
            return None
        start += len(marker)
        end = packet.find(b'"', start)
        digits = packet[start:end]
        return int(digits) if end > start and digits.isdigit() else None

    def all(self, packet: bytes) -> list[int]:
        """The numbers of every one of the run's users named in ``packet``."""
        return [int(found[1]) for found in self.pattern.finditer(packet)]


class Acquaintances:
    """What one client (``number`` of ``clients``) has been told of the others."""

    __slots__ = ("_names", "_number", "greeted", "knew_everyone_at", "known", "times", "twice")

    def __init__(self, names: Usernames, number: int, clients: int) -> None:
        self._names = names
        self._number = number
        # How many times each client has been named to this one.
        self.times = bytearray(clients)
        self.known = 0  # other clients named at least once
        self.twice = 0  # other clients named more than once
        self.greeted = False  # its `users` list is in
        # Wall clock when the last of the others became known.
        self.knew_everyone_at: float | None = None

    @property
    def others(self) -> int:
        return len(self.times) - 1

    @property
    def missing(self) -> int:
        return self.others - self.known

    def learn(self, packet: bytes) -> None:
        """Take a packet the client received (any: only `users` and `user:join` count).
        Only the first `users` list counts: it is the greeting's."""
        if packet.startswith(JOIN_PREFIX):
            other = self._names.first(packet)
            if other is not None:
                self._meet(other)
        elif packet.startswith(USERS_PREFIX) and not self.greeted:
            self.greeted = True
            for other in self._names.all(packet):
                self._meet(other)

    def _meet(self, other: int) -> None:
        times = self.times
        if other == self._number or other >= len(times):
            return
        count = times[other]
        if count == 0:
            self.known += 1
            if self.known == self.others:
                self.knew_everyone_at = time.time()
        elif count == 1:
            self.twice += 1
        if count < _MOST:
            times[other] = count + 1
