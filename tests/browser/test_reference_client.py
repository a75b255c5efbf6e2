"""The official socket.io-client, in Chromium, on a page from another origin: the React path.

The original React front end is served from `http://localhost:4173` (its preview server) and
connects cross-origin with `io(url, {auth})`: long-polling first, then the upgrade to
WebSocket. We do not have that front end, so a tiny page with the same client bundle takes
its place (tests/browser/reference_page/), served from that exact origin by a separate HTTP
server, and walks what the front end does: log in, channels and history, messages, the user
list, Disconnect (and coming back) and Leave Server. A page from an origin the server does
not allow must not get in at all.
"""

import errno
import http.server
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import browser_tests_unavailable, require_playwright

require_playwright()

from playwright.sync_api import Browser, ConsoleMessage, Page  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402

from .conftest import ACTION_TIMEOUT_MS, ServerProcess  # noqa: E402

pytestmark = pytest.mark.browser

PAGE_DIR = Path(__file__).parent / "reference_page"
BUNDLE = (
    Path(__file__).parents[1]
    / "node"
    / "node_modules"
    / "socket.io-client"
    / "dist"
    / "socket.io.min.js"
)
# The original front end's preview port; its origin is on the server's default allow-list.
PAGE_PORT = 4173
ALLOWED_ORIGIN = f"http://localhost:{PAGE_PORT}"
# The same page server by address: neither on the allow-list nor the chat server's own origin.
FOREIGN_ORIGIN = f"http://127.0.0.1:{PAGE_PORT}"
CHANNELS = ["welcome", "general", "react", "learners", "casual"]
MESSAGE_KEYS = {"id", "userId", "username", "timestamp", "message"}


def _page_files() -> dict[str, tuple[Path, str]]:
    return {
        "/": (PAGE_DIR / "index.html", "text/html; charset=utf-8"),
        "/client.js": (PAGE_DIR / "client.js", "text/javascript; charset=utf-8"),
        "/socket.io.min.js": (BUNDLE, "text/javascript; charset=utf-8"),
    }


class _PageHandler(http.server.BaseHTTPRequestHandler):
    files = _page_files()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/favicon.ico":
            # Answered so that Chromium logs no 404 for it: a page's console must stay clean.
            self.send_response(204)
            self.end_headers()
            return
        if path not in self.files:
            self.send_error(404)
            return
        file, content_type = self.files[path]
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests report what matters; request lines would only bury it


@pytest.fixture(scope="module")
def page_server(browser: Browser) -> Iterator[None]:
    """Serves the reference page on 127.0.0.1:4173 (depends on `browser` to skip first)."""
    if not BUNDLE.is_file():
        browser_tests_unavailable(
            f"{BUNDLE} is missing (`make test` installs it, or `npm ci` in tests/node)"
        )
    try:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", PAGE_PORT), _PageHandler)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        pytest.skip(
            f"port {PAGE_PORT} is in use: the page must come from {ALLOWED_ORIGIN}, "
            "an origin on the server's default allow-list"
        )
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="reference-page", daemon=True)
    thread.start()
    yield
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _default_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # chat_server passes the environment on; these tests are about the default allow-list.
    monkeypatch.delenv("MINIDISCORD_CORS_ORIGINS", raising=False)


class ReferenceClient:
    """One user's browser context on the reference page; connections are named in the page."""

    def __init__(self, label: str, page: Page, origin: str, server_url: str) -> None:
        self.label = label
        self.page = page
        self.origin = origin
        self.server_url = server_url
        self.page_errors: list[str] = []
        self.console: list[str] = []
        self.failed_requests: list[tuple[str, str | None]] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._on_console)
        page.on(
            "requestfailed",
            lambda request: self.failed_requests.append((request.url, request.failure)),
        )

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def connect(self, auth: dict[str, Any], name: str = "main", **options: Any) -> None:
        self.page.evaluate(
            "([name, url, auth, options]) => reference.open(name, url, auth, options)",
            [name, self.server_url, auth, options],
        )

    def wait_for(self, event: str, count: int = 1, name: str = "main") -> list[list[Any]]:
        """The args of each `event` received so far, once there are at least `count`."""
        try:
            self.page.wait_for_function(
                "([name, event, count]) => reference.received(name, event).length >= count",
                arg=[name, event, count],
            )
        except PlaywrightError as error:
            raise AssertionError(
                f"{self.label}/{name} did not receive {count} x {event!r}; "
                f"it saw {self.events(name)}"
            ) from error
        return self.received(event, name)

    def received(self, event: str, name: str = "main") -> list[list[Any]]:
        args: list[list[Any]] = self.page.evaluate(
            "([name, event]) => reference.received(name, event)", [name, event]
        )
        return args

    def events(self, name: str = "main") -> list[str]:
        """The names of the events `name` has seen, in order."""
        names: list[str] = self.page.evaluate(
            "(name) => reference.records[name].events.map((entry) => entry[0])", name
        )
        return names

    def wait_upgraded(self, name: str = "main") -> dict[str, str | None]:
        try:
            self.page.wait_for_function(
                "(name) => reference.records[name].transports.upgraded !== null", arg=name
            )
        except PlaywrightError as error:
            raise AssertionError(
                f"{self.label}/{name} never upgraded: {self.transports(name)}, "
                f"state {self.state(name)}, events {self.events(name)}"
            ) from error
        return self.transports(name)

    def transports(self, name: str = "main") -> dict[str, str | None]:
        seen: dict[str, str | None] = self.page.evaluate(
            "(name) => reference.records[name].transports", name
        )
        return seen

    def state(self, name: str = "main") -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate("(name) => reference.state(name)", name)
        return state

    def send(self, channel: str, text: str, name: str = "main") -> Any:
        return self.page.evaluate(
            "([name, channel, text]) => reference.send(name, channel, text)",
            [name, channel, text],
        )

    def emit(self, event: str, *args: Any, name: str = "main") -> None:
        self.page.evaluate(
            "([name, event, args]) => reference.emit(name, event, ...args)",
            [name, event, list(args)],
        )

    def disconnect(self, name: str = "main") -> None:
        self.page.evaluate("(name) => reference.disconnect(name)", name)

    def cut(self, name: str = "main") -> None:
        self.page.evaluate("(name) => reference.cut(name)", name)

    def recovered(self, name: str = "main") -> bool:
        answer: bool = self.page.evaluate("(name) => reference.recovered(name)", name)
        return answer

    def offsets(self, name: str = "main") -> list[str]:
        offsets: list[str] = self.page.evaluate("(name) => reference.records[name].offsets", name)
        return offsets


OpenClient = Callable[..., ReferenceClient]


@pytest.fixture
def open_client(
    browser: Browser, page_server: None, chat_server: ServerProcess
) -> Iterator[OpenClient]:
    """A fresh browser context per user, on the reference page from `origin`."""
    clients: list[ReferenceClient] = []

    def open_page(
        label: str, origin: str = ALLOWED_ORIGIN, server: ServerProcess = chat_server
    ) -> ReferenceClient:
        context = browser.new_context()
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        client = ReferenceClient(label, context.new_page(), origin, server.url)
        clients.append(client)
        client.page.goto(origin + "/")
        assert client.page.evaluate("() => location.origin") == origin
        assert client.page.evaluate("() => typeof io === 'function' && 'reference' in window")
        return client

    yield open_page

    errors = [f"{client.label}: {error}" for client in clients for error in client.page_errors]
    # A page the server admits logs no errors: no CORS failure, no failed request.
    errors += [
        f"{client.label}: {line}"
        for client in clients
        if client.origin == ALLOWED_ORIGIN
        for line in client.console
        if line.startswith("error:")
    ]
    for client in clients:
        client.page.context.close()
    assert not errors, "the pages reported errors:\n" + "\n".join(errors)


def _connected(client: ReferenceClient, username: str) -> dict[str, Any]:
    """Connect as `username`, wait for the whole welcome and the upgrade; the session."""
    client.connect({"username": username})
    client.wait_for("users")
    client.wait_upgraded()
    [[session]] = client.received("session")
    return dict(session)


def test_login_channels_messages_history_and_user_list(open_client: OpenClient) -> None:
    ann = open_client("ann")
    ann.connect({"username": "ann"})
    ann.wait_for("users")
    # The same order the original server used, and the React front end expects.
    assert ann.events()[:4] == ["connect", "session", "channels", "users"]
    transports = ann.wait_upgraded()
    assert transports == {"opened": "polling", "upgraded": "websocket", "afterUpgrade": "websocket"}
    assert ann.state() == {
        "connected": True,
        "active": True,
        "transport": "websocket",
        "engine": "open",
    }

    [[session]] = ann.received("session")
    assert set(session) == {"sessionId", "userId", "username", "connected", "role"}
    assert session["username"] == "ann"
    assert session["connected"] is True
    [[channels]] = ann.received("channels")
    assert [channel["name"] for channel in channels] == CHANNELS
    assert all(channel["messages"] == [] for channel in channels)
    [[users]] = ann.received("users")
    assert users == [
        {"userId": session["userId"], "username": "ann", "connected": True, "role": "guest"}
    ]

    bob = open_client("bob")
    bob_session = _connected(bob, "bob")
    [[joined]] = ann.wait_for("user:join")
    assert joined == {
        "userId": bob_session["userId"],
        "username": "bob",
        "connected": True,
        "role": "guest",
    }
    [[bob_users]] = bob.received("users")
    assert {(u["username"], u["connected"]) for u in bob_users} == {("ann", True), ("bob", True)}

    ack = ann.send("general", "  hello from the browser  ")
    assert set(ack) == {"ok", "id"}
    assert ack["ok"] is True
    for client in (ann, bob):
        [[channel, message]] = client.wait_for("message:channel")
        assert channel == "general"
        assert set(message) == MESSAGE_KEYS, message
        assert message["id"] == ack["id"]
        assert message["userId"] == session["userId"]
        assert message["username"] == "ann"
        assert message["message"] == "hello from the browser"
        assert isinstance(message["timestamp"], int)
    [[_, broadcast]] = bob.received("message:channel")

    refused = bob.send("no-such-channel", "hi")
    assert refused["ok"] is False
    assert isinstance(refused["error"], str)
    assert refused["error"]

    cat = open_client("cat")
    _connected(cat, "cat")
    [[cat_channels]] = cat.received("channels")
    history = {channel["name"]: channel["messages"] for channel in cat_channels}
    assert history == {name: [broadcast] if name == "general" else [] for name in CHANNELS}
    [[cat_users]] = cat.received("users")
    assert sorted(u["username"] for u in cat_users if u["connected"]) == ["ann", "bob", "cat"]
    assert [args[0]["username"] for args in ann.wait_for("user:join", 2)] == ["bob", "cat"]


def test_a_blip_is_recovered_with_the_messages_sent_meanwhile(open_client: OpenClient) -> None:
    ann = open_client("ann")
    bob = open_client("bob")
    _connected(ann, "ann")
    _connected(bob, "bob")
    assert bob.send("general", "before") == {"ok": True, "id": 1}
    ann.wait_for("message:channel")
    ann.wait_upgraded()
    # The transport closes under the page (engine.close(), as a network blip), and the
    # client reconnects by itself; bob writes meanwhile.
    ann.cut()
    ann.wait_for("disconnect")
    assert bob.send("general", "while away") == {"ok": True, "id": 2}
    ann.wait_for("connect", count=2)
    assert ann.recovered()
    assert bob.send("general", "after") == {"ok": True, "id": 3}
    texts = [m["message"] for _, m in ann.wait_for("message:channel", count=3)]
    assert texts == ["before", "while away", "after"]
    # Recovered: no second greeting, and bob saw no presence flicker (the grace).
    assert ann.events().count("session") == 1
    assert bob.received("user:disconnect") == []
    assert bob.received("user:connect") == []
    assert len(set(ann.offsets())) == len(ann.offsets()) > 0


def test_disconnect_restore_and_leave_server(open_client: OpenClient) -> None:
    ann = open_client("ann")
    bob = open_client("bob")
    ann_session = _connected(ann, "ann")
    _connected(bob, "bob")
    ann_presence = {"userId": ann_session["userId"], "username": "ann"}

    # Disconnect: ann stays a user, offline.
    ann.disconnect()
    [[gone]] = bob.wait_for("user:disconnect")
    assert gone == {**ann_presence, "connected": False, "role": "guest"}
    assert ann.received("disconnect") == [["io client disconnect"]]
    assert ann.state()["active"] is False

    # Coming back with the stored sessionId restores the same user, over the same path.
    ann.connect({"sessionId": ann_session["sessionId"]}, name="again")
    ann.wait_for("users", name="again")
    assert ann.wait_upgraded("again")["afterUpgrade"] == "websocket"
    [[restored]] = ann.received("session", name="again")
    assert restored["userId"] == ann_session["userId"]
    assert restored["username"] == "ann"
    [[back]] = bob.wait_for("user:connect")
    assert back == {**ann_presence, "connected": True, "role": "guest"}
    [[users]] = ann.received("users", name="again")
    assert sorted((u["username"], u["connected"]) for u in users) == [
        ("ann", True),
        ("bob", True),
    ]
    # A returning user is not announced as new. The server handles ann's events after her
    # connect and tells bob in that order: once he has her message, a join would be in.
    assert ann.send("general", "back again", name="again")["ok"] is True
    [[_, back_again]] = bob.wait_for("message:channel")
    assert back_again["message"] == "back again"
    assert bob.received("user:join") == []

    # Leave Server: everyone is told, and the server ends the leaver's connection for good.
    ann.emit("user:leave", name="again")
    [[left]] = bob.wait_for("user:leave")
    assert left == {**ann_presence, "connected": False, "role": "guest"}
    assert ann.wait_for("disconnect", name="again") == [["io server disconnect"]]
    # Not active: a standard client does not reconnect; its only connection is closed.
    state = ann.state("again")
    assert (state["active"], state["engine"]) == (False, "closed"), state
    assert bob.received("user:disconnect") == [
        [{**ann_presence, "connected": False, "role": "guest"}]
    ]

    # The old sessionId now starts a fresh user.
    ann.connect({"sessionId": ann_session["sessionId"]}, name="after")
    [[fresh]] = ann.wait_for("session", name="after")
    assert fresh["userId"] != ann_session["userId"]
    assert fresh["sessionId"] != ann_session["sessionId"]
    [[joined]] = bob.wait_for("user:join")
    assert joined["userId"] == fresh["userId"]


def _forbidden_count(server_url: str) -> float:
    """How many requests the server refused for their origin, from its /metrics."""
    with urllib.request.urlopen(server_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'^minidiscord_rejected_total\{reason="forbidden"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_page_from_an_origin_not_allowed_cannot_connect(open_client: OpenClient) -> None:
    mallory = open_client("mallory", origin=FOREIGN_ORIGIN)
    server = mallory.server_url

    # The default transports: the first long-poll is refused, and without CORS headers the
    # browser does not let the page read even that.
    mallory.connect({"username": "mallory"}, name="polling")
    [[error]] = mallory.wait_for("connect_error", name="polling")
    mallory.disconnect("polling")  # stop the reconnection attempts
    assert error["error"] == "xhr poll error"
    assert (f"{server}/socket.io/?EIO=4&transport=polling", "net::ERR_FAILED") in [
        (url.rsplit("&t=", 1)[0], failure) for url, failure in mallory.failed_requests
    ], mallory.failed_requests
    refused_polls = _forbidden_count(server)
    assert refused_polls >= 1

    # WebSocket straight away: the handshake is answered 403.
    mallory.connect({"username": "mallory"}, name="websocket", transports=["websocket"])
    [[ws_error]] = mallory.wait_for("connect_error", name="websocket")
    mallory.disconnect("websocket")
    assert ws_error["error"] == "websocket error"
    assert _forbidden_count(server) > refused_polls
    assert "connect" not in mallory.events("polling") + mallory.events("websocket")

    console = "\n".join(mallory.console)
    assert (
        f"error: Access to XMLHttpRequest at '{server}/socket.io/?EIO=4&transport=polling"
        in console
    ), console
    assert f"from origin '{FOREIGN_ORIGIN}' has been blocked by CORS policy" in console, console
    assert (
        f"error: WebSocket connection to '{server.replace('http', 'ws', 1)}/socket.io/"
        "?EIO=4&transport=websocket' failed: Error during WebSocket handshake: "
        "Unexpected response code: 403" in console
    ), console

    # Nothing reached the chat: an allowed page sees no such user.
    ann = open_client("ann")
    _connected(ann, "ann")
    [[users]] = ann.received("users")
    assert [u["username"] for u in users] == ["ann"]


def test_what_the_server_refuses_reaches_the_react_path_as_messages(
    open_client: OpenClient, tmp_path: Path
) -> None:
    # The React front end sends without ack callbacks and ignores CONNECT_ERROR: a name too
    # long is shortened, and each message a limit refuses comes back as a System line.
    limited = ServerProcess(tmp_path / "limited", rate_limit="3:0.001")
    limited.workdir.mkdir()
    limited.start()
    try:
        long_name = "Maximiliane Alexandra Montgomery-Smythe"
        ann = open_client("ann", server=limited)
        session = _connected(ann, long_name)
        assert session["username"] == long_name[:32]
        bob = open_client("bob", server=limited)
        _connected(bob, "bob")

        for n in range(6):
            ann.emit("message:channel:send", "general", f"burst {n}")
        seen = [args for args in ann.wait_for("message:channel", 6) if args[0] == "general"]
        shown = [m["message"] for _, m in seen if m["username"] != "System"]
        told = [m for _, m in seen if m["username"] == "System"]
        assert shown == ["burst 0", "burst 1", "burst 2"]
        assert [m["message"].split("”")[0] for m in told] == [
            f"Your message “burst {n}" for n in (3, 4, 5)
        ]
        assert all("not sent: you are sending too fast; try again in" in m["message"] for m in told)
        assert all(set(m) == MESSAGE_KEYS for m in told)

        # Sent with an ack callback, the refusal is in the ack, and no System line comes.
        bob.send("general", "one")
        bob.send("general", "two")
        bob.send("general", "three")
        refused = bob.send("general", "four")
        assert refused["ok"] is False
        assert refused["retryAfter"] > 0
        # The server takes bob's events one at a time: a fifth send's ack comes after
        # anything it sent him for the four before.
        assert bob.send("general", "five")["ok"] is False
        everything = [m for _, m in bob.received("message:channel")]
        assert [m["username"] for m in everything].count("System") == 0
    finally:
        limited.stop()
