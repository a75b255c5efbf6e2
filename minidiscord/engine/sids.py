"""Engine.IO session ids, and which worker process owns one.

Under ``--workers`` every worker process starts its ids with its worker number and a dot
(``"3.kQ..."``), so the parent that accepts connections can send every request of a
session (polls, posts, the WebSocket upgrade) to the process that holds it, from the query
string alone. ``secrets.token_urlsafe`` never yields a dot, so the number cannot be confused
with the random part; a single process (no worker number) makes ids as before.
"""

import secrets

# One prefix for the whole process: every engine a worker hosts is that worker's.
_prefix = ""


def set_worker(worker: int | None) -> None:
    """Make every session id this process creates from now on carry ``worker`` (None: no
    worker number, a single process)."""
    global _prefix
    _prefix = "" if worker is None else f"{worker}."


def new_sid() -> str:
    """A fresh, unguessable session id (with this process's worker number, if any)."""
    return _prefix + secrets.token_urlsafe(15)


def worker_of(sid: str) -> int | None:
    """The worker number a session id carries; None for an id without one (or a forged
    one whose number is not a small decimal)."""
    number, dot, _ = sid.partition(".")
    if not dot or not number.isdigit() or not number.isascii() or len(number) > 4:
        return None
    return int(number)
