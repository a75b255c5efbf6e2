"""Where the chat keeps users, sessions and messages: the Store protocol and its backends."""

from .base import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
