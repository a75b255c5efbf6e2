"""The app as hypercorn's own command serves it (``hypercorn --worker-class trio
minidiscord.asgi:app``).

The settings come from the ``MINIDISCORD_*`` environment. What the ``minidiscord`` command
does around the app is done here, in the process that loads it (hypercorn's worker):

- logging as ``MINIDISCORD_LOG_LEVEL`` and ``MINIDISCORD_LOG_FORMAT`` say, hypercorn's own
  lines included (unless hypercorn's ``--error-logfile`` sends them elsewhere);
- hypercorn's adjustments (:mod:`.hostfixes`), and WebSocket messages cut at
  ``MINIDISCORD_MAX_PAYLOAD`` while hypercorn reads them;
- the graceful drain. Told to stop (SIGTERM or SIGINT to hypercorn's main process, which
  passes it on, or to the worker itself), the worker refuses new sessions and closes every
  client's transport cleanly, for up to ``MINIDISCORD_SHUTDOWN_TIMEOUT`` seconds, before
  hypercorn stops serving. hypercorn alone gives open connections its ``--graceful-timeout``,
  then drops them, and tells the app (the ASGI lifespan shutdown) only after that;
- a bad setting or an unusable database: one line and exit status 2, not a traceback.
"""

import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from . import hostfixes, logs
from .app import ChatApp, create_app
from .chat.store.factory import StoreError
from .config import Settings, SettingsError
from .runtime import tune_garbage_collector

logger = logging.getLogger("minidiscord")

Trigger = Callable[[], Awaitable[object]]


def _load() -> ChatApp:
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        return create_app(settings)
    except (SettingsError, StoreError) as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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


def _host_like_minidiscord(app: ChatApp) -> None:
    """Make hypercorn's trio worker serve ``app`` as ``minidiscord`` does: logs, message
    size and the drain before it stops (its worker has no other hook for them)."""
    from hypercorn.trio import run as trio_worker  # loaded: hypercorn is importing us

    serve: Callable[..., Awaitable[None]] = trio_worker.worker_serve
    settings = app.settings

    @functools.wraps(serve)
    async def serve_draining(
        wrapped: Any,
        config: Any,
        *,
        shutdown_trigger: Trigger | None = None,
        **kwargs: Any,
    ) -> None:
        if getattr(wrapped, "app", None) is not app:
            # Some other app in this process (the in-process front end imports this same
            # function): not ours to change.
            await serve(wrapped, config, shutdown_trigger=shutdown_trigger, **kwargs)
            return
        if config.errorlog == "-":
            config.errorlog = logging.getLogger("hypercorn.error")
        # Nothing larger can be taken: hypercorn need not buffer up to its 16 MiB default.
        config.websocket_max_message_size = min(
            config.websocket_max_message_size, settings.max_payload + 1
        )

        async def stop_after_draining() -> None:
            await _until_stopped(shutdown_trigger)
            await app.engine.drain(settings.shutdown_timeout)

        await serve(wrapped, config, shutdown_trigger=stop_after_draining, **kwargs)

    trio_worker.worker_serve = serve_draining  # type: ignore[assignment]


app = _load()
hostfixes.install()
_host_like_minidiscord(app)
tune_garbage_collector()
