"""The client's two Engine.IO transports: HTTP long-polling (httpx) and WebSocket
(trio-websocket). Each moves frames and nothing else; the session logic is in engine.py."""

import functools
import itertools
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto.utilities import RemoteProtocolError

from ..protocol.engineio import (
    PROTOCOL_VERSION,
    Frame,
    Packet,
    decode_packet,
    decode_payload,
    encode_payload,
)
from ..protocol.errors import ProtocolError

Headers = Sequence[tuple[str, str]]


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The system's trust store as one context for the process, for both transports:
    loading it costs tens of milliseconds, which every connection (and reconnection)
    would otherwise pay again, even to a plain ``http://`` server (httpx builds one)."""
    return ssl.create_default_context()


class TransportClosed(Exception):
    """The transport is gone; ``reason`` is the socket.io-client word for why
    ("transport close", "transport error" or "parse error")."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Transport(Protocol):
    """What the engine needs of a transport."""

    name: str

    async def send(self, frames: Sequence[Frame]) -> None:
        """Deliver the frames, in order."""

    async def receive(self) -> list[Packet]:
        """The next packets from the server; raises :class:`TransportClosed`."""

    async def aclose(self) -> None:
        """Release the transport (without the Engine.IO CLOSE packet)."""


def endpoint(url: str, path: str, scheme_for: dict[str, str], query: dict[str, str]) -> str:
    """The Engine.IO URL of a server: ``url``'s host, ``path``, and the query."""
    parts = urlsplit(url)
    scheme = scheme_for.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    extra = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
    return urlunsplit((scheme, parts.netloc, path, urlencode({**extra, **query}), ""))


HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class _HandshakeWatch:
    """Stands for the nursery trio-websocket runs its reader task in, to see that task end.

    ``wrap_client_stream`` waits for an opening that only the reader task completes; a
    reader that ends first would leave it waiting until the open timeout: the connection
    closed during the handshake, the answer was not a WebSocket handshake (trio-websocket
    then closes the stream, or, on an answer that is not HTTP at all, fails with h11's
    LocalProtocolError), or it was a refusal (a 403, a 404: ConnectionRejected). The reader
    runs in ``nursery``; if it ends before :attr:`opened`, ``failure`` says why and the
    ``opening`` scope is cancelled, to fail the attempt at once. Only ``start_soon`` is
    implemented: the one method ``wrap_client_stream`` calls on its nursery."""

    def __init__(self, nursery: trio.Nursery, opening: trio.CancelScope) -> None:
        self._nursery = nursery
        self._opening = opening
        self.opened = False
        self.failure: str | None = None

    def start_soon(self, async_fn: Callable[..., Awaitable[object]], *args: object) -> None:
        self._nursery.start_soon(self._watch, async_fn, *args)

    async def _watch(self, async_fn: Callable[..., Awaitable[object]], *args: object) -> None:
        try:
            await async_fn(*args)
        except Exception as exc:
            if self.opened:
                raise
            # Whatever ends the reader before the opening ends the attempt, as any error
            # of the reference's WebSocket does; not the session's nursery.
            self.failure = repr(_protocol_error_behind(exc))
        else:
            self.failure = "the connection closed during the WebSocket handshake"
        if not self.opened:
            self._opening.cancel()


def _protocol_error_behind(error: BaseException) -> BaseException:
    """The wsproto error that ``error`` was raised while handling, if any, else ``error``:
    on an answer that is not HTTP, trio-websocket tries to send the refusal wsproto suggests,
    as if it were the server, and h11's complaint about that names nothing useful."""
    context: BaseException | None = error
    while context is not None:
        if isinstance(context, RemoteProtocolError):
            return context
        context = context.__context__
    return error


class PollingTransport:
    """Long-polling: each ``receive`` is one GET the server holds until it has packets, each
    ``send`` one POST. The engine runs at most one of each at a time, so httpx's pool keeps
    two connections open to the server."""

    name = "polling"

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        path: str,
        query: dict[str, str],
        headers: Headers,
        max_payload_bytes: int,
    ) -> None:
        self._http = http
        self._url = url
        self._path = path
        self._query = {**query, "EIO": str(PROTOCOL_VERSION), "transport": "polling"}
        self._headers = list(headers)
        self._max_payload_bytes = max_payload_bytes
        # A cache buster, as the JS client's ``t``: some proxies cache identical GETs.
        self._counter = itertools.count()
        self.sid: str | None = None

    def _request_url(self) -> str:
        query = dict(self._query, t=f"{next(self._counter):x}")
        if self.sid is not None:
            query["sid"] = self.sid
        return endpoint(self._url, self._path, HTTP_SCHEMES, query)

    async def receive(self) -> list[Packet]:
        try:
            async with self._http.stream(
                "GET", self._request_url(), headers=self._headers
            ) as response:
                if response.status_code != 200:
                    raise TransportClosed(
                        "transport error", f"poll answered {response.status_code}"
                    )
                body = bytearray()
                # Read with a cap: a server cannot make us hold more than one payload's worth.
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_payload_bytes:
                        raise TransportClosed("transport error", "poll answer too large")
        except httpx.HTTPError as exc:
            raise TransportClosed("transport error", repr(exc)) from exc
        try:
            return decode_payload(bytes(body))
        except ProtocolError as exc:
            raise TransportClosed("parse error", str(exc)) from exc

    async def send(self, frames: Sequence[Frame]) -> None:
        try:
            response = await self._http.post(
                self._request_url(),
                content=encode_payload(frames).encode("utf-8"),
                headers=[*self._headers, ("content-type", "text/plain;charset=UTF-8")],
            )
        except httpx.HTTPError as exc:
            raise TransportClosed("transport error", repr(exc)) from exc
        if response.status_code != 200:
            raise TransportClosed("transport error", f"post answered {response.status_code}")

    async def aclose(self) -> None:
        """Nothing to release: the engine owns the HTTP client."""


class WebSocketTransport:
    """One WebSocket; each Engine.IO packet is one message."""

    name = "websocket"

    def __init__(self, connection: WebSocketConnection) -> None:
        self._ws = connection

    @classmethod
    async def connect(
        cls,
        nursery: trio.Nursery,
        url: str,
        path: str,
        query: dict[str, str],
        headers: Headers,
        max_message_bytes: int,
        ssl_context: ssl.SSLContext | None,
    ) -> "WebSocketTransport":
        """Open the WebSocket (its reader task runs in ``nursery``)."""
        target = urlsplit(
            endpoint(
                url,
                path,
                WS_SCHEMES,
                {**query, "EIO": str(PROTOCOL_VERSION), "transport": "websocket"},
            )
        )
        secure = target.scheme == "wss"
        host = target.hostname or "localhost"
        port = target.port or (443 if secure else 80)
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | None = None
        opened = False
        try:
            if secure:
                stream = await trio.open_ssl_over_tcp_stream(
                    host,
                    port,
                    ssl_context=ssl_context or default_ssl_context(),
                    https_compatible=True,
                )
                # Here rather than in trio-websocket's reader task, which meets a failed TLS
                # handshake (an untrusted certificate) only to wait for the WebSocket
                # handshake that then never comes.
                await stream.do_handshake()
            else:
                stream = await trio.open_tcp_stream(host, port)
            with trio.CancelScope() as opening:
                watch = _HandshakeWatch(nursery, opening)
                connection = await wrap_client_stream(
                    # Only its start_soon is used (see _HandshakeWatch).
                    cast(trio.Nursery, watch),
                    stream,
                    target.netloc,
                    f"{target.path}?{target.query}",
                    extra_headers=[(k.encode(), v.encode()) for k, v in headers],
                    max_message_size=max_message_bytes,
                )
            if opening.cancelled_caught:
                assert watch.failure is not None
                raise TransportClosed("transport error", watch.failure)
            watch.opened = opened = True
        except (OSError, trio.BrokenResourceError) as exc:
            # trio reports a failed TLS handshake as a broken stream caused by the SSL error.
            raise TransportClosed("transport error", repr(exc.__cause__ or exc)) from exc
        finally:
            if not opened and stream is not None:
                # Whatever stopped the opening (a timeout too): the reader task, if any,
                # ends with the stream rather than hold the connection for the session.
                await trio.aclose_forcefully(stream)
        return cls(connection)

    async def receive(self) -> list[Packet]:
        try:
            message = await self._ws.get_message()
        except ConnectionClosed as exc:
            raise TransportClosed("transport close", str(exc.reason)) from exc
        try:
            return [decode_packet(message)]
        except ProtocolError as exc:
            raise TransportClosed("parse error", str(exc)) from exc

    async def send(self, frames: Sequence[Frame]) -> None:
        try:
            for frame in frames:
                await self._ws.send_message(frame)
        except ConnectionClosed as exc:
            raise TransportClosed("transport close", str(exc.reason)) from exc

    async def aclose(self) -> None:
        with trio.move_on_after(1):
            await self._ws.aclose()
