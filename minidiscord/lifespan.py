"""An ASGI app's lifespan exchange, run from the host's side: startup, then shutdown.

The native front end runs its app's lifespan with it; an Engine.IO app runs the lifespan of
the app it falls through to (``other_asgi_app``) the same way, inside its own.
"""

import logging

import trio

from .asgi_io import AppMessage, ASGIApp, LifespanEvent, Scope

logger = logging.getLogger("minidiscord.lifespan")

LIFESPAN_SCOPE: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}


class Lifespan:
    """Runs ``app``'s ``lifespan`` exchange: :meth:`run` in a task, then :meth:`startup`
    before serving and :meth:`shutdown` after."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app, self._app_inbox = trio.open_memory_channel[LifespanEvent](2)
        self._started = trio.Event()
        self._stopped = trio.Event()
        # Why the app did not start (None: it did, or it has no lifespan at all).
        self.failure: str | None = None
        # The app raised instead of answering startup: the ASGI specification's way for an
        # app to say it has no lifespan (a host may then serve it without one).
        self.raised = False

    async def run(self, scope: Scope | None = None) -> None:
        """The app's side of the exchange; returns when the app does."""

        async def send(message: AppMessage) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.failed":
                self.failure = str(message.get("message", "startup failed"))
            if kind.startswith("lifespan.startup."):
                self._started.set()
            elif kind.startswith("lifespan.shutdown."):
                self._stopped.set()

        try:
            await self._app(
                dict(LIFESPAN_SCOPE) if scope is None else scope, self._app_inbox.receive, send
            )
        except Exception as exc:
            if not self._started.is_set():
                self.failure = f"{type(exc).__name__}: {exc}"
                self.raised = True
            logger.exception("the app's lifespan failed")
        finally:
            self._started.set()
            self._stopped.set()

    async def startup(self) -> bool:
        """True when the app started; otherwise :attr:`failure` says why."""
        await self._to_app.send({"type": "lifespan.startup"})
        await self._started.wait()
        return self.failure is None

    async def shutdown(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            await self._to_app.send({"type": "lifespan.shutdown"})
            await self._stopped.wait()
