"""Avatars in Chromium: the page draws only images that cannot reach the server or the
viewer's network (the server's own rule, for avatars stored before it existed)."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trio

from minidiscord.chat import validation
from minidiscord.chat.store.sqlite import SqliteStore

from .support import require_playwright

require_playwright()

from playwright.sync_api import Browser, Request, Route, expect  # noqa: E402

from .conftest import ServerProcess, UserFactory  # noqa: E402

pytestmark = pytest.mark.browser

# The server's own handshake: as an <img src> it opened a session in every viewer's browser.
OWN_API = "/socket.io/?EIO=4&transport=polling"
# A 1x1 PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# The page is served under this name (see `page_on_a_domain`), so that "the server's own
# host" is a domain name, not a loopback address that is refused anyway.
SITE_HOST = "chat.example.com"
SITE = f"https://{SITE_HOST}"
DATA_PREFIX = "data:image/png;base64,"
URL_PREFIX = "https://cdn.example.net/"

# (avatar, whether the page draws it as an image)
CASES = [
    (PIXEL, True),
    (DATA_PREFIX + "A" * (validation.MAX_AVATAR_DATA - len(DATA_PREFIX) - 2), True),
    (DATA_PREFIX + "A" * (validation.MAX_AVATAR_DATA - len(DATA_PREFIX) + 2), False),
    ("data:image/svg+xml;base64,PHN2Zz4=", False),
    ("data:image/png,raw", False),
    (URL_PREFIX + "a.png", True),
    (URL_PREFIX + "a" * (validation.MAX_AVATAR - len(URL_PREFIX)), True),
    (URL_PREFIX + "a" * (validation.MAX_AVATAR - len(URL_PREFIX) + 1), False),
    ("https://static.chat.example.com/a.png", True),
    ("https://8.8.8.8/a.png", True),
    (SITE + OWN_API, False),
    ("https://CHAT.example.com./a.png", False),
    (f"https://{SITE_HOST}:8443/a.png", False),
    (OWN_API, False),
    (f"//{SITE_HOST}/a.png", False),
    ("http://cdn.example.net/a.png", False),
    ("https:cdn.example.net/a.png", False),
    ("javascript:alert(1)", False),
    ("https://localhost/a.png", False),
    ("https://app.localhost/a.png", False),
    ("https://127.0.0.1/a.png", False),
    ("https://2130706433/a.png", False),
    ("https://0x7f.1/a.png", False),
    ("https://10.0.0.1/a.png", False),
    ("https://192.168.1.1/a.png", False),
    ("https://169.254.169.254/a.png", False),
    ("https://224.0.0.1/a.png", False),
    ("https://[::1]/a.png", False),
    ("https://a!b.example.net/a.png", False),
    ("https://intranet/a.png", False),
    ("https://user:pw@cdn.example.net/a.png", False),
    ("https://@cdn.example.net/a.png", False),
    (f"https://cdn.example.net\\@{SITE_HOST}/a.png", False),
    ("https://\uff4cocalhost/a.png", False),
]
# The page is stricter than the server here: it draws no IPv6 literal at all.
STRICTER_IN_THE_PAGE = {"https://[2606:4700:4700::1111]/a.png"}


def _server_accepts(avatar: str) -> bool:
    try:
        validation.avatar(avatar, server_host=SITE_HOST)
    except validation.Invalid:
        return False
    return True


def test_the_page_draws_only_avatars_the_server_would_accept(
    browser: Browser, chat_server: ServerProcess
) -> None:
    context = browser.new_context()
    page = context.new_page()

    def from_the_real_server(route: Route) -> None:
        path = route.request.url.removeprefix(SITE)
        route.fulfill(response=route.fetch(url=chat_server.url + path))

    page.route(SITE + "/**", from_the_real_server)
    try:
        page.goto(SITE + "/")
        avatars = [avatar for avatar, _ in CASES] + sorted(STRICTER_IN_THE_PAGE)
        drawn = page.evaluate(
            """async (avatars) => {
                const { avatar } = await import("/web/render.js");
                return avatars.map((url) => avatar("Eve", "eve", url).tagName === "IMG");
            }""",
            avatars,
        )
    finally:
        page.unroute_all(behavior="ignoreErrors")  # a request still in flight
        context.close()
    decisions = dict(zip(avatars, drawn, strict=True))
    wrong = [
        (_short(avatar), decisions[avatar]) for avatar, want in CASES if decisions[avatar] != want
    ]
    assert not wrong, "the page decided (avatar, drawn) otherwise"
    disagree = [
        _short(avatar)
        for avatar, is_drawn in decisions.items()
        if is_drawn != _server_accepts(avatar) and avatar not in STRICTER_IN_THE_PAGE
    ]
    assert not disagree, "the page and the server disagree"
    for avatar in STRICTER_IN_THE_PAGE:
        assert not decisions[avatar]
        assert _server_accepts(avatar)


def _short(avatar: str) -> str:
    return avatar if len(avatar) <= 60 else f"{avatar[:40]}...({len(avatar)} characters)"


def _store_a_user_with_a_message(db: Path, username: str, avatar: str, text: str) -> None:
    """What a server before the avatar rules could have stored."""

    async def store() -> None:
        store = SqliteStore.open(str(db))
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            user, _ = await store.create_user(username, avatar)
            await store.add_message("welcome", user, text, time.time_ns() // 1_000_000)
            await store.close()

    # In a thread of its own: playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(trio.run, store).result()


def test_a_stored_avatar_at_the_servers_api_is_a_badge_and_never_fetched(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    chat_server.stop()
    _store_a_user_with_a_message(
        chat_server.workdir / "minidiscord.db", "mallory", OWN_API, "from before the rules"
    )
    chat_server.start()
    alice = open_user("alice")
    images: list[str] = []

    def note_image(request: Request) -> None:
        if request.resource_type == "image":
            images.append(request.url)

    alice.page.on("request", note_image)
    alice.login("alice")
    item = alice.message_text("from before the rules").locator("xpath=ancestor::li[1]")
    expect(item.locator(".author")).to_have_text("mallory")
    expect(item.locator(".avatar.badge")).to_have_text("M")
    expect(item.locator("img")).to_have_count(0)
    alice.send("after")
    expect(alice.message_text("after")).to_be_visible()
    assert not [url for url in images if "/socket.io/" in url]
