"""An app under hypercorn's own command, served as the ``minidiscord`` command serves it.

``hypercorn --worker-class trio module:app`` loads ``module`` in its worker process and
serves ``app`` with hypercorn's defaults. :func:`serve_like_minidiscord`, called by that
module, makes the worker apply what the command does around the app (the front end of
``--frontend hypercorn`` does the same in :mod:`.frontend.hosting`). The app is the chat's
(``minidiscord.asgi``) or a :class:`~minidiscord.sockets.SocketServer` on its own:

- hypercorn's adjustments (:mod:`.hostfixes`), and WebSocket messages cut at the engine's
  ``max_payload`` while hypercorn reads them;
- hypercorn's own log lines through the app's logging (unless hypercorn's
  ``--error-logfile`` sends them elsewhere);
- the graceful drain. Told to stop (SIGTERM or SIGINT to hypercorn's main process, which
  passes it on, or to the worker itself), the worker refuses new sessions and closes every
  client's transport cleanly, for up to ``shutdown_timeout`` seconds, before hypercorn
  stops serving. hypercorn alone gives open connections its ``--graceful-timeout``, then
  drops them, and tells the app (the ASGI lifespan shutdown) only after that.
"""

import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from . import hostfixes

if TYPE_CHECKING:
    from .engine import EngineServer

logger = logging.getLogger("minidiscord")

Trigger = Callable[[], Awaitable[object]]


class ServesAnEngine(Protocol):
    """An ASGI app that serves an Engine.IO server (the chat's App, a SocketServer)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    @property
    def engine(self) -> "EngineServer": ...


def serve_like_minidiscord(app: ServesAnEngine, shutdown_timeout: float = 10.0) -> None:
    """Make hypercorn's trio worker in this process serve ``app`` as ``minidiscord`` does.

    Call it from the module hypercorn loads; it changes nothing for other apps."""
    hostfixes.install()
    from hypercorn.trio import run as trio_worker

    serve: Callable[..., Awaitable[None]] = trio_worker.worker_serve
    max_payload = app.engine.config.max_payload

    @functools.wraps(serve)
    async def serve_draining(
        wrapped: Any,
        config: Any,
        *,
        shutdown_trigger: Trigger | None = None,
        **kwargs: Any,
    ) -> None:
        if getattr(wrapped, "app", None) is not app:
            # Another app in this process (the hypercorn front end imports this same
            # function): not ours to change.
            await serve(wrapped, config, shutdown_trigger=shutdown_trigger, **kwargs)
            return
        if config.errorlog == "-":
            config.errorlog = logging.getLogger("hypercorn.error")
        # Nothing larger can be taken: hypercorn need not buffer up to its 16 MiB default.
        config.websocket_max_message_size = min(config.websocket_max_message_size, max_payload + 1)

        async def stop_after_draining() -> None:
            await _until_stopped(shutdown_trigger)
            await app.engine.drain(shutdown_timeout)

        await serve(wrapped, config, shutdown_trigger=stop_after_draining, **kwargs)

    trio_worker.worker_serve = serve_draining  # type: ignore[assignment]


async def _until_stopped(hypercorn_trigger: Trigger | None) -> None:
    """Until hypercorn's own trigger fires (its main process was told to stop), or this
    process gets SIGINT or SIGTERM (hypercorn with ``--workers 0`` has no trigger at all)."""
    async with trio.open_nursery() as nursery:

        async def signalled() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    logger.info("%s: shutting down", signal.Signals(signum).name)
                    break
            nursery.cancel_scope.cancel()

        async def told(trigger: Trigger) -> None:
            await trigger()
            logger.info("hypercorn is stopping: shutting down")
            nursery.cancel_scope.cancel()

        nursery.start_soon(signalled)
        if hypercorn_trigger is not None:
            nursery.start_soon(told, hypercorn_trigger)
