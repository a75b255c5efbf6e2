"""The native front end: HTTP/1.1 and WebSocket on trio with h11 and wsproto.

It hosts any ASGI app that keeps to what ours uses (lifespan, http, websocket with the
``websocket.http.response`` extension) and exists for speed: every frame queued for a
WebSocket client between two wake-ups of its writer leaves in one ``send_all``, where an
ASGI host pays its whole send path and one system call per frame. hypercorn remains the
other front end (``--frontend hypercorn``); the engine does not know which one carries
a client.
"""

from .context import FrontendConfig
from .server import NativeServer

__all__ = ["FrontendConfig", "NativeServer"]
