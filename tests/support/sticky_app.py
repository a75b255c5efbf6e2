"""A standalone SocketServer for the --workers tests: it says which process serves a client.

``whoami`` is acknowledged with the worker's pid and the Engine.IO session id the client is
served under, ``echo`` with its own arguments; ``shout`` reaches every client of the same
worker (rooms are per process without a cluster adapter).
"""

import os
from typing import Any

from minidiscord.hypercorn_worker import serve_like_minidiscord
from minidiscord.sockets import Socket, SocketServer

# Limits off: the tests connect many clients from one address, faster than people do.
sio = SocketServer(
    ping_interval=5.0,
    ping_timeout=5.0,
    cors_allowed_origins="*",
    ip_connect_rate=None,
    ip_max_sessions=None,
    inbound_rate=None,
)


@sio.on("whoami")
async def whoami(socket: Socket) -> dict[str, Any]:
    return {"pid": os.getpid()}


@sio.on("echo")
async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
    return args


app = sio
# Under hypercorn's own command (tests/workers/test_hypercorn_workers.py): what the
# minidiscord command adds around hypercorn; nothing changes for the native front end.
serve_like_minidiscord(app)
