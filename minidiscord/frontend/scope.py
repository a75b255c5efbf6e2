"""The ASGI scope of a request h11 parsed (http or websocket)."""

from typing import Any
from urllib.parse import unquote

import h11
import trio

from ..asgi_io import Scope


def asgi_scope(kind: str, request: h11.Request, stream: trio.SocketStream) -> Scope:
    raw_path, _, query_string = bytes(request.target).partition(b"?")
    scope: Scope = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version.decode("ascii"),
        "scheme": "http" if kind == "http" else "ws",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": "",
        # h11 gives header names lower-cased, as ASGI wants them.
        "headers": list(request.headers),
        "client": _address(stream.socket.getpeername()),
        "server": _address(stream.socket.getsockname()),
    }
    if kind == "http":
        scope["method"] = request.method.decode("ascii")
    return scope


def _address(sockaddr: Any) -> tuple[str, int] | None:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return None
