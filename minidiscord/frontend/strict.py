"""Request heads that two HTTP parsers could frame differently are refused, not guessed.

Request smuggling lives in the gaps between parsers: a proxy in front of us and our own
parser must agree where one request ends and the next begins. h11 is lenient where they
may not agree: it unfolds obs-fold lines, ends lines at a bare LF, and lets
Transfer-Encoding win over a Content-Length sent with it. :class:`StrictConnection` is an
h11 connection that reads each request head's raw bytes before h11 parses them and
raises a 400 :class:`AmbiguousRequest` for any of these, so both front ends refuse what
the proxy might have read another way.
"""

import re

import h11

# Where h11 ends a request head (it accepts a bare LF too): we judge the same bytes it parses.
HEAD_END = re.compile(rb"\n\r?\n")


class AmbiguousRequest(h11.RemoteProtocolError):
    """The peer sent a request head another parser could frame differently (status 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, error_status_hint=400)


def ambiguity(head: bytes) -> str | None:
    """Why a whole request head (through its blank line) is ambiguous, or None.

    Anything else wrong with it (a malformed line, a bad length) is h11's to refuse.
    """
    if head.count(b"\n") != head.count(b"\r\n"):
        return "a line of the request head ends in a bare LF, not CRLF"
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            return "a header line is continued on the next line (obs-fold)"
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"content-length":
            lengths.update(length.strip(b" \t") for length in value.split(b","))
        elif name == b"transfer-encoding":
            codings.append(value.strip(b" \t").lower())
    if codings and lengths:
        return "both Content-Length and Transfer-Encoding"
    if codings and codings != [b"chunked"]:
        return "a Transfer-Encoding other than chunked"
    if len(lengths) > 1:
        return "Content-Length values that differ"
    return None


class _HeadWatch:
    """The raw bytes of one request head as they arrive, until its blank line."""

    def __init__(self, buffered: bytes) -> None:
        self._head = bytearray(buffered)
        self._searched = 0
        self.problem: str | None = None
        self.complete = False
        self._look()

    def add(self, data: bytes) -> None:
        if not self.complete:
            self._head += data
            self._look()

    def _look(self) -> None:
        # An end split between two reads is found too: the search starts two bytes back.
        end = HEAD_END.search(self._head, max(0, self._searched - 2))
        self._searched = len(self._head)
        if end is not None:
            self.complete = True
            self.problem = ambiguity(bytes(self._head[: end.end()]))
            self._head = bytearray()


class StrictConnection(h11.Connection):
    """An h11 connection that refuses ambiguous request heads (see the module's docstring).

    Only the bytes of the head still to be parsed are kept (bounded by h11's
    ``max_incomplete_event_size``, past which h11 refuses the head itself); bodies and the
    requests pipelined behind the head are not looked at until their turn.
    """

    # The head being received while the peer is between requests; None while it is not.
    _watch: _HeadWatch | None = None

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data)
        if self._watch is not None:
            self._watch.add(data)

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        if self.their_state is not h11.IDLE:
            return super().next_event()
        if self._watch is None:
            # A new request begins with what h11 holds already (pipelined bytes): one copy
            # per request, of at most what the front end reads ahead.
            self._watch = _HeadWatch(self.trailing_data[0])
        if self._watch.problem is not None:
            raise AmbiguousRequest(self._watch.problem)
        event = super().next_event()
        if self.their_state is not h11.IDLE:
            self._watch = None
        return event
