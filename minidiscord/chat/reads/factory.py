"""open_reads: the ReadStore beside the chat store the settings name."""

from ...config import Settings
from .memory import MemoryReads
from .redis import RedisReads
from .sqlite import SqliteReads
from .store import ReadStore


def open_reads(settings: Settings) -> ReadStore:
    """Redis in cluster mode, else the SQLite file, else memory; raises StoreError with a
    one-line message. Blocking."""
    if settings.redis_url is not None:
        return RedisReads(settings.redis_url, settings.redis_prefix)
    if settings.store == "sqlite":
        return SqliteReads.open(settings.db_path)
    return MemoryReads()
