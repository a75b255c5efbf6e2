"""open_accounts: the AccountStore beside the chat store the settings name, and the
Accounts service on it."""

from collections.abc import Callable

from ...config import Settings
from ..clock import wall_clock_ms
from ..store.sqlite import StoreError
from .hashing import Passwords
from .memory import MemoryAccounts
from .redis import RedisAccounts
from .service import Accounts
from .sessions import Lifetimes
from .sqlite import SqliteAccounts
from .store import AccountStore

__all__ = ["StoreError", "accounts_for", "open_accounts"]


def open_accounts(settings: Settings) -> AccountStore:
    """The account store of the configured backend (Redis in cluster mode, else the
    SQLite file, else memory); raises StoreError with a one-line message. Blocking."""
    if settings.redis_url is not None:
        return RedisAccounts(settings.redis_url, settings.redis_prefix)
    if settings.store == "sqlite":
        return SqliteAccounts.open(settings.db_path)
    return MemoryAccounts()


def accounts_for(
    settings: Settings, store: AccountStore, *, clock: Callable[[], int] = wall_clock_ms
) -> Accounts:
    return Accounts(
        store,
        passwords=Passwords(settings.password_cost),
        lifetimes=Lifetimes(idle=settings.session_idle, absolute=settings.session_lifetime),
        registration=settings.registration,
        login_rate=settings.login_rate,
        ip_login_rate=settings.ip_login_rate,
        ip_new_user_rate=settings.ip_new_user_rate,
        clock=clock,
    )
