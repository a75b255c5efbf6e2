"""Cluster mode of the chat: many nodes on one Redis behaving as one server.

Redis holds the state and the log (``P:log``); each node applies the log in order to its
own sockets (``reader``), registers its sockets' users (``presence``) and heartbeats
(``node``); ``feed`` ties them to the chat. See docs/architecture.md, "Cluster mode".
"""
