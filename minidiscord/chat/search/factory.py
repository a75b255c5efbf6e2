"""search_for: the MessageSearch of the chat store the settings name."""

from ...config import Settings
from ..store.base import Store
from .scan import ScanSearch
from .sqlite import SqliteSearch
from .store import MessageSearch


def search_for(settings: Settings, store: Store) -> MessageSearch:
    """FTS5 on the SQLite file; a scan of ``store``'s history on memory and Redis.
    Raises StoreError with a one-line message. Blocking: at startup."""
    if settings.redis_url is None and settings.store == "sqlite":
        return SqliteSearch.open(settings.db_path)
    return ScanSearch(store)
