"""A TCP forwarder on a loopback port, standing for a load balancer in front of several
servers: new connections go to the current backend, and :meth:`SwitchProxy.switch` cuts
every open connection and sends the next ones to another backend (what a client sees when
its server goes away and the balancer moves it). WebSocket clients only: long-polling
needs sticky routing, which this is not."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio


class SwitchProxy:
    """Forwards each connection to ``backend`` (a port on 127.0.0.1) as it is when the
    connection comes; ``url`` is where clients connect."""

    def __init__(self, backend: int) -> None:
        self.backend = backend
        self.port = 0
        self._open: set[trio.CancelScope] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def switch(self, backend: int) -> None:
        """Cut every forwarded connection; the next ones go to ``backend``."""
        self.backend = backend
        for scope in list(self._open):
            scope.cancel()

    async def _forward(self, client: trio.SocketStream) -> None:
        with trio.CancelScope() as scope:
            self._open.add(scope)
            try:
                async with client:
                    upstream = await trio.open_tcp_stream("127.0.0.1", self.backend)
                    async with upstream, trio.open_nursery() as pumps:
                        pumps.start_soon(_pump, client, upstream, pumps.cancel_scope)
                        pumps.start_soon(_pump, upstream, client, pumps.cancel_scope)
            except OSError:
                pass
            finally:
                self._open.discard(scope)


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    # One side is done: the connection is over for both.
    both.cancel()


@asynccontextmanager
async def switch_proxy(backend: int) -> AsyncIterator[SwitchProxy]:
    """A :class:`SwitchProxy` to ``backend`` on a free port, until the block ends."""
    proxy = SwitchProxy(backend)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, proxy._forward, 0, host="127.0.0.1")
        )
        proxy.port = listeners[0].socket.getsockname()[1]
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
