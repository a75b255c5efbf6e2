"""What the load, benchmark and soak scripts and the tests share: not part of the server.

- ``wire``: WebSocket frames (RFC 6455, client side), a lean WebSocket client, and the
  Engine.IO/Socket.IO packets the chat's clients send and read.
- ``stats``: a mergeable latency histogram and readings of processes and the machine.
- ``processes``: our server (or another) as a subprocess: its command, a free port,
  waiting until it serves, stopping it; the scripts' own commands and CPU pinning.

It lives at the repository's root, beside ``minidiscord`` and ``tests``, and is excluded
from the wheel; the scripts run as ``python -m scripts.NAME`` from the root and pytest runs
from the root, so both import it without touching ``sys.path``.
"""
