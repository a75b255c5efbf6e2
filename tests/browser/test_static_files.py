"""serve_web(): which paths it answers, with which headers, and what it refuses."""

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from minidiscord.web.static import FILES, WEB_DIR, serve_web


class Response:
    def __init__(self) -> None:
        self.messages: list[Mapping[str, Any]] = []

    async def send(self, message: Mapping[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        status: int = self.messages[0]["status"]
        return status

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def no_body() -> MutableMapping[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def request(
    path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[bool, Response]:
    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    response = Response()
    handled = await serve_web(scope, no_body, response.send)
    return handled, response


@pytest.mark.parametrize(
    ("path", "content_type", "file"),
    [
        ("/", "text/html; charset=utf-8", "index.html"),
        ("/web/index.html", "text/html; charset=utf-8", "index.html"),
        ("/web/app.js", "text/javascript; charset=utf-8", "app.js"),
        ("/web/socketio.js", "text/javascript; charset=utf-8", "socketio.js"),
        ("/web/style.css", "text/css; charset=utf-8", "style.css"),
        ("/web/favicon.svg", "image/svg+xml", "favicon.svg"),
    ],
)
async def test_serves_the_client_files_with_their_types(
    path: str, content_type: str, file: str
) -> None:
    handled, response = await request(path)
    assert handled
    assert response.status == 200
    assert response.headers["content-type"] == content_type
    assert response.body == (WEB_DIR / file).read_bytes()
    assert response.headers["content-length"] == str(len(response.body))


async def test_every_response_forbids_inline_script_and_sniffing() -> None:
    _, response = await request("/")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_head_sends_the_headers_without_the_body() -> None:
    handled, response = await request("/web/app.js", method="HEAD")
    assert handled
    assert response.status == 200
    assert response.body == b""
    assert response.headers["content-length"] == str(len((WEB_DIR / "app.js").read_bytes()))


async def test_other_methods_on_our_paths_get_405() -> None:
    handled, response = await request("/", method="POST")
    assert handled
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_matching_etag_gets_304_without_a_body() -> None:
    _, first = await request("/web/style.css")
    etag = first.headers["etag"].encode()
    handled, again = await request("/web/style.css", headers=[(b"if-none-match", etag)])
    assert handled
    assert again.status == 304
    assert again.body == b""
    _, changed = await request("/web/style.css", headers=[(b"if-none-match", b'"other"')])
    assert changed.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/web/static.py",
        "/web/__init__.py",
        "/web/../static.py",
        "/web/%2e%2e/static.py",
        "/web/",
        "/web",
        "/web//app.js",
        "/web/nope.js",
        "/app.js",
        "/etc/passwd",
        "/socket.io/",
        "/index.html/",
    ],
)
async def test_declines_everything_else(path: str) -> None:
    handled, response = await request(path)
    assert not handled
    assert response.messages == []


async def test_declines_websocket_scopes() -> None:
    response = Response()
    scope = {"type": "websocket", "path": "/", "headers": []}
    assert not await serve_web(scope, no_body, response.send)


def test_the_page_has_no_inline_code_and_loads_only_our_files() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "style=" not in html
    assert "<style" not in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url in FILES, f"index.html loads {url}, which is not served"


def test_every_module_import_resolves_to_a_served_file() -> None:
    for path in WEB_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([^"]+)"', path.read_text()):
            assert "/web/" + name in FILES, f"{path.name} imports {name}, which is not served"
