"""Which worker a request is for, from its request line: the ``sid`` its query names.

The parent reads only this much of a new connection before handing it over, and a worker
asks the same question of every later request on a kept-alive connection. The query is
read exactly as the engine reads it (the last ``sid`` wins), so the process a request is
routed to is the one whose engine will look that id up.
"""

from urllib.parse import parse_qsl

from ..engine.sids import worker_of


def sid_in(request_line: bytes) -> str | None:
    """The Engine.IO session id in a request line's query; None for a new session (or a
    request that is not Engine.IO's, or not a request line at all)."""
    parts = request_line.split(b" ")
    if len(parts) != 3:
        return None
    _, _, query = parts[1].partition(b"?")
    if b"sid=" not in query:
        return None
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)).get("sid")


def owner_of(request_line: bytes) -> int | None:
    """The worker number of the session a request is for; None when any worker may serve
    it (a new session, a page, the health check, an id without a worker number)."""
    sid = sid_in(request_line)
    return None if sid is None else worker_of(sid)
