"""Which origins may talk to the server, and the CORS headers that tell browsers so.

Requests without an Origin header come from non-browser clients and are always
admitted; a browser's request is admitted when its origin is on the allow-list or is
the server's own origin (same-origin pages, such as the built-in web client).
"""

from collections.abc import Iterable

from .asgi_io import Headers, Scope, header


class OriginPolicy:
    def __init__(self, allowed: Iterable[str]) -> None:
        origins = {origin.rstrip("/") for origin in allowed}
        self._any = "*" in origins
        self._allowed = frozenset(origins - {"*"})

    def admits(self, scope: Scope) -> bool:
        origin = header(scope, b"origin")
        if origin is None or self._any or origin in self._allowed:
            return True
        host = header(scope, b"host")
        return host is not None and origin in (f"http://{host}", f"https://{host}")

    def response_headers(self, scope: Scope) -> Headers:
        """CORS headers for an admitted request (none when it is not cross-origin)."""
        origin = header(scope, b"origin")
        if origin is None or not self.admits(scope):
            return []
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]

    def preflight_headers(self, scope: Scope) -> Headers:
        headers = self.response_headers(scope)
        if not headers:
            return []
        headers.append((b"access-control-allow-methods", b"GET, POST, OPTIONS"))
        requested = header(scope, b"access-control-request-headers")
        if requested:
            headers.append((b"access-control-allow-headers", requested.encode("latin-1")))
        headers.append((b"access-control-max-age", b"86400"))
        return headers
