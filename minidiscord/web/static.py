"""Serve the web client's files to GET and HEAD requests, as an ASGI handler that may decline.

The handler only ever serves files named in a fixed table built from this directory, so
no request path can reach anything else (no traversal, no Python sources). The files are
read once, at import: the client is a handful of small modules that ship with the package.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..asgi_io import Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent
URL_PREFIX = "/web/"

CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
)

# No inline script or style anywhere, so the page can forbid both: an injected
# <script> or on* attribute never runs even if some text reached the DOM as HTML.
# 'self' in connect-src also admits ws:/wss: to the same host (CSP Level 3).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z]+")


@dataclass(frozen=True, slots=True)
class WebFile:
    body: bytes
    content_type: str
    etag: bytes


def load_files(directory: Path) -> Mapping[str, WebFile]:
    """Map each servable URL path to its file; only plain names with a known type qualify."""
    files: dict[str, WebFile] = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or not _SAFE_NAME.fullmatch(path.name):
            continue
        body = path.read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        files[URL_PREFIX + path.name] = WebFile(body, content_type, etag)
    index = files.get(URL_PREFIX + "index.html")
    if index is not None:
        files["/"] = index
    return MappingProxyType(files)


FILES = load_files(WEB_DIR)


def security_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == name:
            return bytes(value)
    return None


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    candidates = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return b"*" in candidates or etag in candidates


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def serve_web(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer the request if its path is one of the web client's files; False otherwise.

    ``receive`` is unused: GET and HEAD carry no body worth reading, and other methods
    are refused with 405 before any body would matter.
    """
    if scope.get("type") != "http":
        return False
    web_file = FILES.get(str(scope.get("path", "")))
    if web_file is None:
        return False
    method = str(scope.get("method", "GET")).upper()
    if method not in ("GET", "HEAD"):
        headers = [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain; charset=utf-8")]
        await _respond(send, 405, headers + security_headers(), b"Method Not Allowed\n")
        return True
    headers = [
        (b"etag", web_file.etag),
        # Revalidate every time: file names carry no version, and a 304 costs little.
        (b"cache-control", b"no-cache"),
        *security_headers(),
    ]
    if_none_match = _header(scope, b"if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, web_file.etag):
        await _respond(send, 304, headers, b"")
        return True
    headers += [
        (b"content-type", web_file.content_type.encode()),
        (b"content-length", str(len(web_file.body)).encode()),
    ]
    await _respond(send, 200, headers, b"" if method == "HEAD" else web_file.body)
    return True
