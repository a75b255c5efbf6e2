"""The adapters' lifecycle: a server runs every namespace's adapter (``Adapter.run``) for as
long as its ASGI lifespan lasts, and closes them at shutdown (see
:mod:`minidiscord.sockets.adapter`).

The adapters start before the engine takes sessions and stop after it has closed them, so a
cluster adapter is there for every socket's whole life: the sessions the engine's shutdown
persists (connection state recovery) are still written.
"""

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from ..asgi_io import AppMessage, ASGIApp, Message, Receive, Scope, Send
from .adapter import Adapter, AdapterFactory

if TYPE_CHECKING:
    from .namespace import Namespace

logger = logging.getLogger("minidiscord.sockets")

# Seconds the adapters get, once closed, to finish what they owe (a cluster adapter's last
# writes) before they are cancelled.
CLOSE_TIMEOUT = 5.0


class AdapterTasks:
    """Makes a server's adapters (``make`` is the factory every namespace of the server is
    given) and runs them while :meth:`run` runs.

    An adapter made before :meth:`run` (the root namespace's, those of namespaces an
    application registers at import time) starts when it does, before it reports started;
    one made while it runs (a dynamic namespace's child) starts at once.
    """

    def __init__(self, factory: AdapterFactory, namespaces: Mapping[str, "Namespace"]) -> None:
        self._factory = factory
        # The server's registry: the namespaces whose adapters run (its dynamic children too).
        self._namespaces = namespaces
        self._nursery: trio.Nursery | None = None
        self._stopping = trio.Event()

    def make(self, namespace: "Namespace") -> Adapter:
        """The adapter of ``namespace``, started now when the adapters are running."""
        adapter = self._factory(namespace)
        if self._nursery is not None:
            self._nursery.start_soon(self._run_one, adapter)
        return adapter

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every adapter until :meth:`stop`; then close them all and wait, up to
        :data:`CLOSE_TIMEOUT` seconds, for them to finish."""
        self._stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            for namespace in list(self._namespaces.values()):
                await nursery.start(self._run_one, namespace.adapter)
            self._nursery = nursery
            task_status.started()
            await self._stopping.wait()
            self._nursery = None
            for namespace in list(self._namespaces.values()):
                namespace.adapter.close()
            # The adapters' own tasks end once they are done; a stalled one is cut off.
            nursery.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT

    def stop(self) -> None:
        """Close every adapter (:meth:`run` then returns once they have finished)."""
        self._stopping.set()

    async def _run_one(
        self, adapter: Adapter, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await adapter.run(task_status=task_status)
        except Exception:
            # One namespace's adapter failing must not take the server down with it.
            logger.exception("the adapter of %s failed", adapter.namespace.name)

    async def around_lifespan(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run ``app``'s lifespan with the adapters: they start when it is told to start,
        before it does, and are closed (and waited for) before its shutdown is reported
        complete."""
        # Set once the adapters have stopped; None while they were never started.
        stopped: trio.Event | None = None

        async def run_adapters(*, task_status: trio.TaskStatus[None]) -> None:
            nonlocal stopped
            done = stopped = trio.Event()
            try:
                await self.run(task_status=task_status)
            finally:
                done.set()

        async with trio.open_nursery() as nursery:

            async def receive_starting() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await nursery.start(run_adapters)
                return message

            async def send_after_stopping(message: AppMessage) -> None:
                if message["type"] == "lifespan.shutdown.complete" and stopped is not None:
                    self.stop()
                    await stopped.wait()
                await send(message)

            try:
                await app(scope, receive_starting, send_after_stopping)
            finally:
                self.stop()
