"""The client loads the system's trust store once per process, not once per connection:
loading it costs tens of milliseconds, paid at every connection and reconnection."""

import ssl
from typing import Any

import pytest

from minidiscord.client import Client
from minidiscord.client.transports import default_ssl_context
from tests.support.servers import RunningServer

TRANSPORTS = pytest.mark.parametrize(
    "transports", [("websocket",), ("polling", "websocket")], ids=["websocket", "upgrade"]
)


@TRANSPORTS
async def test_connections_share_one_default_tls_context(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, transports: tuple[str, ...]
) -> None:
    default_ssl_context.cache_clear()
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = create(*args, **kwargs)
        made.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    for n in range(3):
        client = Client(transports=transports, reconnection=False, auth={"username": f"u{n}"})
        async with client.connect(server.url):
            assert client.connected
    assert len(made) == 1
