"""An Engine.IO server as an ASGI app: its path, the paths it does not serve, its lifespan."""

import math

import trio

from ..asgi_io import ASGIApp, Receive, Scope, Send, refuse
from ..lifespan import Lifespan
from .reasons import CloseReason
from .server import EngineServer


class EngineApp:
    """Serves ``engine`` at ``path`` (with or without its trailing slash) to any ASGI host.

    Requests for other paths go to ``other_asgi_app`` when there is one, and are otherwise
    answered 404. The ASGI lifespan runs the engine: it starts before the host serves and
    closes every session at shutdown; the lifespan of ``other_asgi_app`` runs inside it
    (started after the engine, stopped before it).
    """

    def __init__(
        self, engine: EngineServer, *, path: str, other_asgi_app: ASGIApp | None = None
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"the path must start with '/': {path!r}")
        self.engine = engine
        self.other_asgi_app = other_asgi_app
        self.path = path.rstrip("/") + "/"

    def serves(self, path: str) -> bool:
        """Whether a request for ``path`` is the engine's."""
        return path == self.path or path == self.path[:-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif self.serves(scope.get("path", "")):
            await self.engine.handle(scope, receive, send)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind in ("http", "websocket"):
            await refuse(scope, receive, send, 404, "Not Found\n")

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        other = Lifespan(self.other_asgi_app) if self.other_asgi_app is not None else None
        async with trio.open_nursery() as nursery:
            if other is not None:
                nursery.start_soon(other.run, scope)
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await nursery.start(self.engine.run)
                    if other is not None and not await other.startup() and not other.raised:
                        # An app that raised has no lifespan (ASGI): it is served without.
                        self.engine.close_all(CloseReason.SERVER_SHUTTING_DOWN)
                        nursery.cancel_scope.cancel()
                        await send(
                            {"type": "lifespan.startup.failed", "message": str(other.failure)}
                        )
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if other is not None:
                        # The host bounds how long shutdown takes; nothing to add here.
                        await other.shutdown(math.inf)
                    self.engine.close_all(CloseReason.SERVER_SHUTTING_DOWN)
                    nursery.cancel_scope.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
