"""Redis for a cluster: where several server processes share what one process keeps alone.

``target`` reads a Redis URL without importing a client (the settings check it at startup);
``connection`` opens a client whose calls are bounded in time and never retried behind the
caller's back, and checks the durability settings the chat's guarantees need.
"""
