"""open_channels: the ChannelStore beside the chat store the settings name."""

from ...config import Settings
from .memory import MemoryChannels
from .redis import RedisChannels
from .sqlite import SqliteChannels
from .store import ChannelStore


def open_channels(settings: Settings) -> ChannelStore:
    """Redis in cluster mode, else the SQLite file, else memory; raises StoreError with a
    one-line message. Blocking: call it at startup."""
    if settings.redis_url is not None:
        return RedisChannels(settings.redis_url, settings.redis_prefix)
    if settings.store == "sqlite":
        return SqliteChannels.open(settings.db_path)
    return MemoryChannels()
