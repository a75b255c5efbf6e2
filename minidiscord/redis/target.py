"""A Redis URL, checked when the settings are read: a wrong one is a one-line startup error,
not a traceback from the client at the first command."""

from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("redis", "rediss", "unix")


class RedisURLError(ValueError):
    """The URL cannot name a Redis server; the message says why in one line."""


@dataclass(frozen=True, slots=True, repr=False)
class RedisTarget:
    """Where the Redis server is: the URL as given (what the client opens) and, for logs and
    errors, where it points without any password (also what str() and repr() show, so a
    password in the URL never reaches a log line)."""

    url: str
    where: str

    def __str__(self) -> str:
        return self.where

    def __repr__(self) -> str:
        return f"RedisTarget({self.where!r})"


def parse_redis_url(text: str) -> RedisTarget:
    """``redis://[user:password@]host[:port][/db]``, ``rediss://`` (TLS) or
    ``unix:///path/to/socket[?db=N]``."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise RedisURLError(f"{text!r} is not a URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        starts = " or ".join(f"{scheme}://" for scheme in SCHEMES)
        raise RedisURLError(f"{text!r} is not a Redis URL (it starts with {starts})")
    if parts.scheme == "unix":
        if not parts.path:
            raise RedisURLError(f"{text!r} names no socket path")
        return RedisTarget(text, f"unix:{parts.path}")
    if not parts.hostname:
        raise RedisURLError(f"{text!r} names no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise RedisURLError(f"{text!r}: the database must be a number, not {db!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return RedisTarget(text, f"{parts.scheme}://{host}:{port or 6379}/{db or '0'}")
