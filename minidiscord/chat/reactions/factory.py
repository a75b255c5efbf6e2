"""open_reactions: the ReactionStore beside the chat store the settings name."""

from ...config import Settings
from .memory import MemoryReactions
from .redis import RedisReactions
from .sqlite import SqliteReactions
from .store import ReactionStore


def open_reactions(settings: Settings) -> ReactionStore:
    """Redis in cluster mode, else the SQLite file, else memory; raises StoreError with a
    one-line message. Blocking: at startup, after the chat store migrated the file."""
    if settings.redis_url is not None:
        return RedisReactions(settings.redis_url, settings.redis_prefix)
    if settings.store == "sqlite":
        return SqliteReactions.open(settings.db_path)
    return MemoryReactions()
