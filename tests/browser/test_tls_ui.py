"""Chromium and the chat served over TLS (``--certfile``): the page over https, its client
over wss, and the official socket.io-client long-polling over https.

The certificate is signed by a CA made for the run, which this Chromium does not know: the
browser contexts ignore certificate errors (as they would not need to with a real
certificate); everything else is what a browser does with any https site.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.tls import ServerCertificate

from .support import require_playwright

require_playwright()

from playwright.sync_api import Browser, BrowserContext, WebSocket, expect  # noqa: E402

from .chatpage import ChatPage  # noqa: E402
from .conftest import ACTION_TIMEOUT_MS, ServerProcess  # noqa: E402
from .test_reference_client import BUNDLE  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def tls_server(
    tmp_path: Path, browser: Browser, certificate: ServerCertificate
) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path, certificate=certificate)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _context(browser: Browser, contexts: list[BrowserContext], **options: Any) -> BrowserContext:
    context = browser.new_context(ignore_https_errors=True, **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    contexts.append(context)
    return context


def test_the_chat_page_over_https_chats_over_wss(
    browser: Browser, tls_server: ServerProcess, contexts: list[BrowserContext]
) -> None:
    assert tls_server.url.startswith("https://")
    sockets: list[str] = []
    pages: list[ChatPage] = []
    for name in ("alice", "bob"):
        page = _context(browser, contexts, viewport={"width": 1280, "height": 800}).new_page()

        def opened(websocket: WebSocket) -> None:
            sockets.append(websocket.url)

        page.on("websocket", opened)
        chat = ChatPage(name, page, tls_server.url)
        chat.open()
        chat.login(name)
        pages.append(chat)
    alice, bob = pages
    alice.select("general")
    alice.send("hello over wss")
    bob.select("general")
    expect(bob.message_text("hello over wss")).to_be_visible()
    bob.send("and back")
    expect(alice.message_text("and back")).to_be_visible()

    origin = tls_server.url.removeprefix("https://")
    assert sockets
    assert all(url.startswith(f"wss://{origin}/socket.io/") for url in sockets), sockets
    problems = [problem for chat in pages for problem in chat.problems()]
    assert not problems, problems


# The official client on the server's own page: polling only, no upgrade; the chat's events.
POLLING_ROUND_TRIP = """async (username) => {
  const socket = io(location.origin, {
    transports: ["polling"], upgrade: false, auth: { username }, reconnection: false,
  });
  const text = "hello over https polling";
  const echoed = new Promise((resolve) => socket.on("message:channel", (channel, message) => {
    if (message.message === text) resolve([channel, message.username, message.message]);
  }));
  await new Promise((resolve, reject) => {
    socket.once("users", resolve);
    socket.once("connect_error", reject);
  });
  const ack = await socket.emitWithAck("message:channel:send", "general", text);
  const message = await echoed;
  const transport = socket.io.engine.transport.name;
  socket.disconnect();
  return { ack, message, transport };
}"""


def test_socketio_client_long_polls_over_https(
    browser: Browser, tls_server: ServerProcess, contexts: list[BrowserContext]
) -> None:
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE} is missing (`npm ci` in tests/node)")
    # The page's policy admits only its own scripts: the test adds the client bundle to it.
    page = _context(browser, contexts, bypass_csp=True).new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(tls_server.url + "/")
    page.add_script_tag(path=str(BUNDLE))

    result = page.evaluate(POLLING_ROUND_TRIP, "poller")

    assert result["transport"] == "polling"
    assert set(result["ack"]) == {"ok", "id"}
    assert result["message"] == ["general", "poller", "hello over https polling"]
    polls = [url for url in requests if "/socket.io/" in url]
    assert polls
    assert all(
        url.startswith(f"{tls_server.url}/socket.io/?EIO=4&transport=polling") for url in polls
    )
    assert not errors
