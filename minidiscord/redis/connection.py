"""A Redis client fit for a server that must stay responsive while Redis is in trouble.

coredis (anyio, so it runs under trio) has two defaults this project cannot live with
(measured in ``shared/research/redis-on-trio.md``): it retries failed commands, writes
included, so a write that reached Redis before the connection broke may be applied twice;
and it has no read timeout, so against a frozen server a command waits for ever. So every
client here is opened without retries, and every call runs inside :func:`bounded`, which
turns a stall or a broken connection into :class:`RedisUnavailable` within a bound.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

import coredis
import trio
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import ReadOnlyError, ResponseError
from coredis.retry import NoRetryPolicy

from .target import RedisTarget

log = logging.getLogger(__name__)

RedisClient: TypeAlias = coredis.Redis[bytes]

# Seconds a call may take before the caller hears Redis is unavailable: a chat sender gets
# its {ok: false} within about this long.
DEFAULT_CALL_TIMEOUT = 2.0
# Seconds to open a TCP connection to Redis.
CONNECT_TIMEOUT = 2.0
# Error replies that mean "not now" (loading its AOF after a restart, cannot persist, busy
# with a script, a replica being promoted), not a mistake in the command.
PASSING_TROUBLE = ("LOADING", "MISCONF", "BUSY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN")


class _FailedAttemptsOnce(logging.Filter):
    """coredis logs a whole traceback at ERROR for every connection attempt that fails
    (one or two a second while Redis is frozen) and then raises, which ``bounded`` turns
    into RedisUnavailable that the caller logs once, in one line: the traceback is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Connection attempt failed")


logging.getLogger("coredis").addFilter(_FailedAttemptsOnce())


class RedisUnavailable(Exception):
    """Redis did not answer in time, or the connection to it failed: the operation may or
    may not have been applied (a write must carry what makes a retry harmless)."""


def open_redis(target: RedisTarget) -> RedisClient:
    """A client for ``target``: no retries, a bounded connect. Use it as ``async with``."""
    return coredis.Redis.from_url(
        target.url,
        retry_policy=NoRetryPolicy(),
        connect_timeout=CONNECT_TIMEOUT,
    )


@contextmanager
def bounded(what: str, seconds: float = DEFAULT_CALL_TIMEOUT) -> Iterator[None]:
    """Run the Redis calls in the block within ``seconds``; a stall, a refused or broken
    connection, or a server that is loading or read-only becomes :class:`RedisUnavailable`
    naming ``what`` was being done. Other error replies (a wrong command or type) are
    mistakes, not trouble: they propagate as they are."""
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        raise RedisUnavailable(f"redis did not answer within {seconds:g} s ({what})") from None
    except (RedisConnectionError, OSError) as exc:
        raise RedisUnavailable(f"redis is unreachable ({what}: {exc})") from None
    except ReadOnlyError as exc:
        raise RedisUnavailable(f"redis refused {what}: {exc}") from None
    except ResponseError as exc:
        if str(exc).startswith(PASSING_TROUBLE):
            raise RedisUnavailable(f"redis refused {what}: {exc}") from None
        raise


async def durability_warnings(client: RedisClient) -> list[str]:
    """What in the server's configuration weakens "durable before visible": each a line
    to log at startup. Empty when the AOF is on and fsynced before every reply."""
    with bounded("CONFIG GET"):
        try:
            config = await client.config_get(["appendonly", "appendfsync"])
        except ResponseError as exc:
            # Hosted Redis often renames or forbids CONFIG: say the check was not made.
            return [
                f"could not read redis's persistence settings ({exc}); make sure "
                "appendonly is yes and appendfsync is always"
            ]
    appendonly = config.get(b"appendonly", b"").decode()
    appendfsync = config.get(b"appendfsync", b"").decode()
    warnings = []
    if appendonly != "yes":
        warnings.append(
            f"redis has appendonly {appendonly or 'unknown'}: acknowledged messages are lost "
            "if redis restarts (set appendonly yes)"
        )
    elif appendfsync != "always":
        warnings.append(
            f"redis has appendfsync {appendfsync or 'unknown'}: a power loss or OS crash can "
            "lose about a second of acknowledged messages (set appendfsync always)"
        )
    return warnings
