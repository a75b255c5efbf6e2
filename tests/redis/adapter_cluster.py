"""Several standalone SocketServers on one redis-server through the Redis adapter, each
served on its own port in this process: a cluster for the adapter tests."""

import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from minidiscord.redis.adapter import RedisAdapter
from minidiscord.redis.adapter_node import AdapterNode
from minidiscord.sockets import Recovery, SocketServer
from tests.sockets.operators_app import served
from tests.support.servers import RunningApp
from tests.support.waiting import wait_until

# Short heartbeats and bounds, so that a dead server or a frozen Redis shows in a second.
FAST: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "heartbeat_timeout": 1.0,
    "requests_timeout": 2.0,
    "block": 0.2,
    "call_timeout": 1.0,
}


def node_server(
    redis_url: str, *, recovery: Recovery | None = None, prefix: str = "test", **options: Any
) -> SocketServer:
    """A SocketServer on the Redis adapter (with :data:`FAST` unless ``options`` say)."""
    return SocketServer(
        adapter=RedisAdapter.factory(redis_url, prefix=prefix, **{**FAST, **options}),
        connection_state_recovery=recovery,
        ping_interval=2.0,
        ping_timeout=2.0,
    )


def node_of(sio: SocketServer) -> AdapterNode:
    adapter = sio.of("/").adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter.node


def lost(sio: SocketServer, reason: str) -> float:
    """How many messages for the other servers this server dropped, for ``reason``."""
    node = node_of(sio)
    assert node.metrics is not None
    value = node.metrics.registry.get_sample_value(
        "minidiscord_adapter_messages_lost_total", {"reason": reason}
    )
    return value or 0.0


async def all_in(servers: list[SocketServer]) -> None:
    """Until every server reads the stream and counts all the others."""
    for sio in servers:
        await wait_until(functools.partial(_sees_all, node_of(sio), len(servers)))


def _sees_all(node: AdapterNode, servers: int) -> bool:
    return node.reading and node.servers == servers


@asynccontextmanager
async def cluster(servers: list[SocketServer]) -> AsyncIterator[list[RunningApp]]:
    """Serve ``servers`` (each with :func:`~tests.sockets.operators_app.rooms_from_auth`'s
    "/"), and wait until they all see one another."""
    async with AsyncExitStack() as stack:
        running = [await stack.enter_async_context(served(sio)) for sio in servers]
        await all_in(servers)
        yield running
