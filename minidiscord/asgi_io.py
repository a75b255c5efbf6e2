"""Small ASGI helpers shared by the HTTP routes: headers, bodies and plain responses."""

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
Headers: TypeAlias = list[tuple[bytes, bytes]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

# An ASGI extension a front end may offer in a websocket scope's "extensions": the app then
# sends {"type": SEND_MANY, "frames": [str | bytes, ...]}, each a whole message, in order.
# The engine's writer hands over everything queued at once, and the front end writes it
# with one system call.
SEND_MANY = "minidiscord.websocket.send_many"


class BodyTooLarge(Exception):
    """The request body is longer than the limit the caller set."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def discard_body(receive: Receive, limit: int) -> bool:
    """Read and drop the rest of a request body, up to ``limit`` bytes; False if it is longer.

    Answering before the client has finished sending its body makes the host close the
    connection, and the client then sees a reset instead of the answer.
    """
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (names are lower-case bytes in ASGI)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read a whole request body, refusing it as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    body: bytes | str = b"",
    *,
    content_type: str = "text/plain; charset=UTF-8",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    data = body.encode() if isinstance(body, str) else body
    response_headers: Headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(data)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": data})
