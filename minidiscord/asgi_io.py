"""Small ASGI helpers shared by the HTTP routes: headers, bodies and plain responses."""

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final, Literal, NotRequired, TypeAlias, TypedDict
from urllib.parse import parse_qsl

import trio

Scope: TypeAlias = MutableMapping[str, Any]
Headers: TypeAlias = list[tuple[bytes, bytes]]

# An ASGI extension a front end may offer in a websocket scope's "extensions": the app then
# sends {"type": SEND_MANY, "frames": [str | bytes, ...]}, each a whole message, in order.
# The engine's writer hands over everything queued at once, and the front end writes it
# with one system call.
SEND_MANY: Final = "minidiscord.websocket.send_many"

# An ASGI extension a front end may offer beside SEND_MANY when it owns the connection's
# socket and may write to it from any task: scope["extensions"][DIRECT_SEND]["send"] is a
# DirectSend for that connection. The app calls it, without awaiting, to write whole
# messages now (all of them in one write), and only while no send of its own is in progress
# and nothing it handed over is unsent. It answers None when it wrote nothing (a write is in
# progress on the connection, the connection is not open, or the socket would block: send
# the messages as usual), 0 when the socket took them all, or the number of bytes the
# socket did not take: the front end keeps them and writes them before anything else on
# the app's next SEND_MANY message (an empty one is enough), which the app must send soon.
DIRECT_SEND: Final = "minidiscord.websocket.direct_send"
DirectSend: TypeAlias = Callable[[Sequence[str | bytes]], int | None]

# An ASGI extension a front end may offer in a websocket scope when a task of its own reads
# the connection and hands each message to the app (hypercorn's connection task):
# ``await scope["extensions"][RECEIVE_HANDLER]["hand_to"](handler)`` first gives
# ``handler`` (in the app's task, in order) every message still waiting for ``receive``,
# then has the front end's task await ``handler(message)`` for each later one instead of
# queueing it, which also holds that task's reading while the handler runs;
# ``hand_to(None)`` goes back to queueing for ``receive`` (a call in progress goes on). The
# app then needs no task of its own to read, and no task is woken per message. Calls may
# overlap: a task whose write found the connection broken hands over the disconnect while
# the reader may still be in a call.
RECEIVE_HANDLER: Final = "minidiscord.websocket.receive_handler"


# What an app sends its host. Typed, so that a front end's ``send`` is checked against
# every message it may get (mypy narrows the union on "type").


class HTTPResponseStart(TypedDict):
    type: Literal["http.response.start"]
    status: int
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class HTTPResponseBody(TypedDict):
    type: Literal["http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class WebSocketAccept(TypedDict):
    type: Literal["websocket.accept"]
    subprotocol: NotRequired[str | None]
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class WebSocketSend(TypedDict):
    type: Literal["websocket.send"]
    text: NotRequired[str | None]
    bytes: NotRequired[bytes | None]


class WebSocketSendMany(TypedDict):
    type: Literal["minidiscord.websocket.send_many"]
    frames: Sequence[str | bytes]


class WebSocketClose(TypedDict):
    type: Literal["websocket.close"]
    code: NotRequired[int]
    reason: NotRequired[str | None]


class WebSocketResponseStart(TypedDict):
    type: Literal["websocket.http.response.start"]
    status: int
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class WebSocketResponseBody(TypedDict):
    type: Literal["websocket.http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class LifespanDone(TypedDict):
    type: Literal["lifespan.startup.complete", "lifespan.shutdown.complete"]


class LifespanFailed(TypedDict):
    type: Literal["lifespan.startup.failed", "lifespan.shutdown.failed"]
    message: NotRequired[str]


AppMessage: TypeAlias = (
    HTTPResponseStart
    | HTTPResponseBody
    | WebSocketAccept
    | WebSocketSend
    | WebSocketSendMany
    | WebSocketClose
    | WebSocketResponseStart
    | WebSocketResponseBody
    | LifespanDone
    | LifespanFailed
)


# What a host sends its app (the native front end builds these; hypercorn has its own).


class HTTPRequest(TypedDict):
    type: Literal["http.request"]
    body: bytes
    more_body: bool


class HTTPDisconnect(TypedDict):
    type: Literal["http.disconnect"]


class WebSocketConnect(TypedDict):
    type: Literal["websocket.connect"]


class WebSocketReceive(TypedDict):
    type: Literal["websocket.receive"]
    text: NotRequired[str]
    bytes: NotRequired[bytes]


class WebSocketDisconnect(TypedDict):
    type: Literal["websocket.disconnect"]
    code: int


class LifespanEvent(TypedDict):
    type: Literal["lifespan.startup", "lifespan.shutdown"]


HostMessage: TypeAlias = (
    HTTPRequest
    | HTTPDisconnect
    | WebSocketConnect
    | WebSocketReceive
    | WebSocketDisconnect
    | LifespanEvent
)

# An app reads what its host sends as a mapping: hosts other than ours build their own.
Message: TypeAlias = Mapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[AppMessage], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
# RECEIVE_HANDLER's handler, and its "hand_to".
ReceiveHandler: TypeAlias = Callable[[Message], Awaitable[object]]
HandTo: TypeAlias = Callable[[ReceiveHandler | None], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is longer than the limit the caller set."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class BodyTooSlow(Exception):
    """The request body did not arrive whole by its deadline (:func:`body_within`)."""


# How long a client has to send a whole request body, from when the app starts on the
# request. Over HTTP/2 nothing else bounds it (a client's PINGs keep every timer of its
# connection off), and over HTTP/1.1 a body trickled a byte at a time passes every read
# timeout: a polling POST or a login would hold its request for as long as the client liked.
BODY_SECONDS: Final = 15.0
# An answer's header that ends an HTTP/1.x connection once it is sent (one whose request
# body was not read to its end cannot carry another request). HTTP/2 forbids it and h2
# drops it: there a stream's end is its answer's end, and the others go on.
CLOSE_CONNECTION: Final = (b"connection", b"close")


def body_within(receive: Receive, seconds: float = BODY_SECONDS) -> Receive:
    """``receive`` for a request whose body must have arrived within ``seconds`` from now:
    a read still waiting then raises :class:`BodyTooSlow`."""
    deadline = trio.current_time() + seconds

    async def receive_in_time() -> Message:
        try:
            with trio.fail_at(deadline):
                return await receive()
        except trio.TooSlowError:
            raise BodyTooSlow from None

    return receive_in_time


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


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, body: str) -> None:
    """Answer an HTTP request, or a WebSocket handshake, with ``status`` and ``body``.

    A WebSocket is answered in HTTP where the host offers the ``websocket.http.response``
    extension; elsewhere it can only be closed before it opens (the host answers 403)."""
    if scope["type"] == "http":
        await respond(send, status, body)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=UTF-8")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body.encode()})
    else:
        await send({"type": "websocket.close", "code": 1008})
