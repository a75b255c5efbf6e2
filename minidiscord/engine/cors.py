"""Which origins may talk to the server, and the CORS headers that tell browsers so.

Requests without an Origin header come from non-browser clients and are always
admitted; a browser's request is admitted when its origin is on the allow-list or is
the server's own origin (same-origin pages, such as the built-in web client).

Only origins named on the list (and the server's own) may send credentials (cookies):
with "*", any other origin is answered ``Access-Control-Allow-Origin: *`` without
``Allow-Credentials``, as the CORS specification intends for a public resource, so a
page on any site can use the server but never with its users' cookies.
"""

from collections.abc import Iterable

from ..asgi_io import Headers, Scope, header


class OriginPolicy:
    def __init__(self, allowed: Iterable[str]) -> None:
        origins = {origin.rstrip("/") for origin in allowed}
        self._any = "*" in origins
        self._allowed = frozenset(origins - {"*"})

    def admits(self, scope: Scope) -> bool:
        origin = header(scope, b"origin")
        return origin is None or self._any or self._named(scope, origin)

    def _named(self, scope: Scope, origin: str) -> bool:
        """The origin is on the list, or is the server's own."""
        if origin in self._allowed:
            return True
        host = header(scope, b"host")
        return host is not None and origin in (f"http://{host}", f"https://{host}")

    def response_headers(self, scope: Scope) -> Headers:
        """CORS headers for an admitted request (none when it is not cross-origin)."""
        origin = header(scope, b"origin")
        if origin is None:
            return []
        if self._named(scope, origin):
            return [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
        if self._any:
            return [(b"access-control-allow-origin", b"*")]
        return []

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
