"""The ASGI scope of a request h11 parsed (http or websocket)."""

from typing import Any
from urllib.parse import unquote

import h11

from ..asgi_io import Scope
from .streams import ClientStream, is_tls, tcp_socket

# The same for every request, so one dict for all (a WebSocket's scope lives as long as it).
ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}


def asgi_scope(kind: str, request: h11.Request, stream: ClientStream) -> Scope:
    raw_path, _, query_string = bytes(request.target).partition(b"?")
    sock = tcp_socket(stream)
    scheme = "http" if kind == "http" else "ws"
    scope: Scope = {
        "type": kind,
        "asgi": ASGI_VERSION,
        "http_version": request.http_version.decode("ascii"),
        "scheme": scheme + "s" if is_tls(stream) else scheme,
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": "",
        # h11 gives header names lower-cased, as ASGI wants them.
        "headers": list(request.headers),
        "client": _address(sock.getpeername()),
        "server": _address(sock.getsockname()),
    }
    if kind == "http":
        scope["method"] = request.method.decode("ascii")
    return scope


def _address(sockaddr: Any) -> tuple[str, int] | None:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return None
