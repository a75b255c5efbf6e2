"""The web client in Chromium: login, channels, messages, presence, leaving, phone layout."""

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio

from .support import require_playwright

require_playwright()

from playwright.sync_api import Locator, expect  # noqa: E402

from .chatpage import ChatPage  # noqa: E402
from .conftest import ServerProcess, UserFactory  # noqa: E402
from .relay import (  # noqa: E402
    MARKER_USER,
    Frame,
    Network,
    channel_list_reply,
    marker_frame,
    read_list_reply,
)

pytestmark = pytest.mark.browser

CHANNELS = ["welcome", "general", "react", "learners", "casual"]


def test_an_empty_username_is_refused_with_a_message(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.username_field.fill("   ")
    alice.connect_button.click()
    expect(alice.page.get_by_text("Username cannot be empty.", exact=True)).to_be_visible()
    expect(alice.username_field).to_be_visible()
    expect(alice.messages).to_be_hidden()


def test_login_shows_the_channels_the_user_list_and_the_header(open_user: UserFactory) -> None:
    alice = open_user("alice")
    # The original React front end's words, where it had some.
    expect(alice.username_field).to_have_attribute("placeholder", "Enter your username")
    alice.login("alice")
    expect(alice.page.locator("#connected-as")).to_have_text("You are connected as alice.")
    expect(alice.message_field).to_be_focused()
    expect(alice.message_field).to_have_attribute("placeholder", "Type a message...")
    for name in CHANNELS:
        expect(alice.channel(name)).to_be_visible()
    expect(alice.channel("welcome")).to_have_attribute("aria-current", "true")
    expect(alice.channel("general")).not_to_have_attribute("aria-current", "true")
    expect(alice.messages).to_be_visible()
    alice.expect_presence(online=["alice"], offline=[])
    alice.select("general")
    expect(alice.page.get_by_role("heading", name="#general", exact=True)).to_be_visible()


def test_messages_reach_everyone_in_the_channel_and_mark_it_unread(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")

    alice.select("general")
    alice.send("hello bob")
    expect(alice.message_text("hello bob")).to_be_visible()
    # The sender is echoed like everyone else; the composer is emptied for the next one.
    expect(alice.message_field).to_have_value("")
    item = alice.message_text("hello bob").locator("xpath=ancestor::li[1]")
    expect(item.locator(".author")).to_have_text("alice")
    expect(item.locator("time")).to_have_text(re.compile(r"^Today at \d\d:\d\d$"))

    # Bob is still in #welcome: #general gets an unread marker until he opens it.
    expect(bob.channel("general")).to_have_class("channel unread")
    expect(bob.message_text("hello bob")).to_have_count(0)
    bob.select("general")
    expect(bob.message_text("hello bob")).to_be_visible()
    expect(bob.channel("general")).not_to_have_class("channel unread")

    bob.message_field.fill("hi alice, via the button")
    bob.page.get_by_role("button", name="Send", exact=True).click()
    expect(alice.message_text("hi alice, via the button")).to_be_visible()


def test_a_new_user_sees_the_history_and_others_see_the_join(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    alice.select("general")
    for text in ("first", "second", "third"):
        alice.send(text)
        expect(alice.message_text(text)).to_be_visible()

    carol = open_user("carol")
    carol.login("carol")
    # The user:join that lists carol also writes the join line: once she is listed, the
    # line exists, and it went to #welcome, not to the channel alice reads.
    alice.expect_presence(online=["alice", "carol"], offline=[])
    expect(alice.system_line("carol has joined the server!")).to_have_count(0)
    carol.select("general")
    expect(carol.messages.locator(".message:not(.system) .text")).to_have_text(
        ["first", "second", "third"]
    )
    alice.select("welcome")
    expect(alice.system_line("carol has joined the server!")).to_be_visible()
    system_item = alice.system_line("carol has joined the server!").locator("xpath=ancestor::li[1]")
    expect(system_item.locator("img, .avatar")).to_have_count(0)


def test_messages_and_names_are_shown_as_text_never_as_html(open_user: UserFactory) -> None:
    attack = '<img src=x onerror="window.__pwned=1"><b>bold</b><script>window.__pwned=2</script>'
    mallory = open_user("mallory")
    mallory.login("<i>mallory</i>")
    bob = open_user("bob")
    bob.login("bob")
    mallory.select("general")
    mallory.send(attack)
    bob.select("general")
    expect(bob.message_text(attack)).to_be_visible()
    # Mallory's own line too, or her page's checks below would find nothing to check.
    expect(mallory.message_text(attack)).to_be_visible()
    expect(bob.messages.locator(".author")).to_have_text(["<i>mallory</i>"])
    expect(bob.online_users()).to_have_text(["<i>mallory</i>", "bob"])
    for page in (bob.page, mallory.page):
        assert page.locator("#message-list img, #message-list b, #message-list script").count() == 0
        assert page.locator(".member-name i").count() == 0
        assert page.evaluate("window.__pwned") is None


def test_presence_follows_a_disconnect_and_the_return(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    alice.expect_presence(online=["alice", "bob"], offline=[])

    bob.disconnect()
    # Bob is offered the way back, with his name filled in.
    expect(bob.username_field).to_have_value("bob")
    expect(bob.connect_button).to_be_visible()
    alice.expect_presence(online=["alice"], offline=["bob"])

    bob.connect_button.click()
    bob.expect_connected_as("bob")
    # The same user came back (no second "bob"), announced with user:connect.
    alice.expect_presence(online=["alice", "bob"], offline=[])
    bob.expect_presence(online=["alice", "bob"], offline=[])
    expect(alice.system_line("bob has joined the server!")).to_have_count(1)


def test_leaving_the_server_removes_the_user_and_forgets_the_session(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    alice.expect_presence(online=["alice", "bob"], offline=[])

    bob.leave()
    expect(bob.username_field).to_be_visible()
    expect(bob.username_field).to_have_value("")
    expect(alice.system_line("bob has left the server.")).to_be_visible()
    alice.expect_presence(online=["alice"], offline=[])

    # Nothing is restored on reload: the stored session is gone.
    bob.page.reload()
    expect(bob.username_field).to_be_visible()
    expect(bob.username_field).to_have_value("")
    assert bob.page.evaluate("localStorage.getItem('minidiscord.sessionId')") is None


def test_the_settings_menu_works_from_the_keyboard(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    settings = alice.page.get_by_role("button", name="Settings", exact=True)
    settings.focus()
    alice.page.keyboard.press("Enter")
    expect(settings).to_have_attribute("aria-expanded", "true")
    expect(alice.page.get_by_role("button", name="Disconnect", exact=True)).to_be_focused()
    expect(alice.page.get_by_role("button", name="Leave Server", exact=True)).to_be_visible()
    alice.page.keyboard.press("Escape")
    expect(settings).to_have_attribute("aria-expanded", "false")
    expect(settings).to_be_focused()
    expect(alice.page.get_by_role("button", name="Leave Server", exact=True)).to_be_hidden()


def test_the_list_stays_at_the_newest_message_unless_scrolled_up(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    alice.select("general")
    bob.select("general")
    for n in range(25):
        alice.send(f"line {n}")
    expect(bob.message_text("line 24")).to_be_in_viewport()

    bob.messages.evaluate("el => { el.scrollTop = 0; }")
    alice.send("while bob reads old lines")
    expect(bob.message_text("while bob reads old lines")).to_have_count(1)
    expect(bob.message_text("while bob reads old lines")).not_to_be_in_viewport()
    jump = bob.page.get_by_role("button", name="New messages below", exact=True)
    jump.click()
    expect(bob.message_text("while bob reads old lines")).to_be_in_viewport()


def test_a_refused_message_shows_the_servers_reason(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    too_long = "x" * 2001
    alice.message_field.fill(too_long)
    alice.message_field.press("Enter")
    expect(alice.page.get_by_role("alert").filter(has_text="Message not sent")).to_contain_text(
        "too long"
    )
    # The text comes back so that it can be shortened and sent again.
    expect(alice.message_field).to_have_value(too_long)
    expect(alice.message_text(too_long)).to_have_count(0)


def test_the_page_works_on_a_phone_sized_screen(open_user: UserFactory) -> None:
    alice = open_user("alice", phone=True)
    alice.login("alice")
    # The side panels are drawers behind buttons; the conversation uses the width.
    expect(alice.channel("general")).to_be_hidden()
    alice.page.get_by_role("button", name="Channels", exact=True).click()
    alice.channel("general").click()
    expect(alice.channel("general")).to_be_hidden()
    expect(alice.page.get_by_role("heading", name="#general", exact=True)).to_be_visible()
    alice.send("from my phone")
    expect(alice.message_text("from my phone")).to_be_in_viewport()
    alice.page.get_by_role("button", name="Members", exact=True).click()
    expect(alice.page.get_by_role("heading", name="ONLINE -- 1", exact=True)).to_be_visible()
    overflow = alice.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def _network_address() -> str | None:
    """This machine's address on its network (what a phone beside it would use), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # Connecting a UDP socket sends nothing: it only picks the route's own address.
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_a_phone_on_the_same_network_can_chat(open_user: UserFactory, tmp_path: Path) -> None:
    # The README's way: --host 0.0.0.0, and the phone opens http://<this machine's address>:PORT/
    # (an IP address needs no --allowed-hosts; a name would).
    address = _network_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    everywhere = ServerProcess(tmp_path / "everywhere", host="0.0.0.0")
    everywhere.workdir.mkdir()
    everywhere.start()
    try:
        phone = open_user("phone", phone=True, url=f"http://{address}:{everywhere.port}")
        phone.login("phone")
        desk = open_user("desk", url=everywhere.url)
        desk.login("desk")
        phone.send("hello from the sofa")
        expect(desk.message_text("hello from the sofa")).to_be_visible()
        desk.send("hello from the desk")
        expect(phone.message_text("hello from the desk")).to_be_visible()
        assert phone.page.evaluate("location.host") == f"{address}:{everywhere.port}"
    finally:
        everywhere.stop()


def _bob_reads_after_alice_wrote(open_user: UserFactory, total: int) -> tuple[ChatPage, Locator]:
    """alice writes ``total`` messages in #general, then bob opens it: bob, and the texts
    of the chat lines bob sees (the newest already shown)."""
    alice = open_user("alice")
    alice.login("alice")
    alice.select("general")
    for n in range(total):
        alice.send(f"old {n}")
    expect(alice.message_text(f"old {total - 1}")).to_be_visible()
    bob = open_user("bob")
    bob.login("bob")
    bob.select("general")
    texts = bob.messages.locator(".message:not(.system) .text")
    expect(texts.last).to_have_text(f"old {total - 1}")
    return bob, texts


def test_scrolling_to_the_top_pages_in_older_messages(open_user: UserFactory) -> None:
    total = 60
    bob, texts = _bob_reads_after_alice_wrote(open_user, total)
    shown_first = texts.first.inner_text()
    # The snapshot on connect holds only the recent history; the rest is a scroll away.
    assert texts.count() < total
    bob.messages.evaluate("el => { el.scrollTop = 0; }")
    expect(texts).to_have_text([f"old {n}" for n in range(total)])
    # The page went in above the reader, who still looks at the same message.
    expect(bob.message_text(shown_first)).to_be_in_viewport()


@pytest.mark.parametrize(
    "late", [channel_list_reply, read_list_reply], ids=["channel-list", "read-list"]
)
def test_a_late_answer_after_connect_leaves_the_reader_where_they_scrolled(
    open_user: UserFactory, late: Callable[[Frame], bool]
) -> None:
    total = 60
    alice = open_user("alice")
    alice.login("alice")
    alice.select("general")
    for n in range(total):
        alice.send(f"old {n}")
    # All stored before bob's greeting, so that the older ones are paged in.
    expect(alice.message_text(f"old {total - 1}")).to_be_visible()
    bob = open_user("bob")
    network = Network(bob.page)
    # Asked for after each connect; on a busy server the answer may come after the reader
    # scrolled up.
    network.hold(late)
    bob.login("bob")
    bob.select("general")
    texts = bob.messages.locator(".message:not(.system) .text")
    expect(texts.last).to_have_text(f"old {total - 1}")
    shown_first = texts.first.inner_text()
    bob.messages.evaluate("el => { el.scrollTop = 0; }")
    expect(texts).to_have_text([f"old {n}" for n in range(total)])
    expect(bob.message_text(shown_first)).to_be_in_viewport()
    network.release()
    network.inject(marker_frame())
    expect(bob.member(MARKER_USER)).to_have_count(1)
    expect(bob.message_text(shown_first)).to_be_in_viewport()


def test_a_refused_login_shows_the_servers_reason(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.username_field.fill("System")
    alice.connect_button.click()
    expect(alice.page.get_by_role("alert")).to_contain_text("The server refused the connection")
    expect(alice.page.get_by_role("alert")).to_contain_text("reserved")
    expect(alice.username_field).to_have_value("System")


def test_a_name_too_long_is_shortened_and_the_header_says_so(open_user: UserFactory) -> None:
    alice = open_user("alice")
    long_name = "Maximiliane Alexandra Montgomery-Smythe"
    alice.username_field.fill(long_name)
    alice.connect_button.click()
    alice.expect_connected_as(long_name[:32])
    expect(alice.page.locator("#self-name")).to_have_text(long_name[:32])


# A 1x1 PNG: data: images are what the page's Content-Security-Policy lets in.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_avatars_are_shown_and_users_without_one_get_their_initial(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    bob = open_user("bob")
    bob.login("bob")
    bob.select("general")
    # Another kind of client, with an avatar the web form does not ask for.
    client = socketio.Client(reconnection=False)
    client.connect(
        chat_server.url,
        auth={"username": "pixel", "avatar": PIXEL},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        reply = client.call("message:channel:send", ("general", "I have a face"), timeout=10)
        assert reply["ok"] is True
        bob.send("I do not")
        with_avatar = bob.message_text("I have a face").locator("xpath=ancestor::li[1]")
        expect(with_avatar.locator("img.avatar")).to_have_attribute("src", PIXEL)
        without = bob.message_text("I do not").locator("xpath=ancestor::li[1]")
        expect(without.locator("img")).to_have_count(0)
        expect(without.locator(".avatar.badge")).to_have_text("B")
    finally:
        client.disconnect()


@pytest.fixture
def slow_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server (started after this) lets each user have one history page per 2 s."""
    monkeypatch.setenv("MINIDISCORD_HISTORY_RATE", "1:0.5")


def test_paging_refused_as_too_fast_is_retried_later(
    slow_history: None, open_user: UserFactory
) -> None:
    total = 120
    bob, texts = _bob_reads_after_alice_wrote(open_user, total)
    bob.messages.evaluate("el => { el.scrollTop = 0; }")
    expect(texts).to_have_count(100)  # the snapshot's 50, and one page
    # At once again: refused (one page per 2 s). The page must not take that as the end:
    # it asks again when allowed, the reader still being at the top.
    bob.messages.evaluate("el => { el.scrollTop = 0; }")
    expect(texts).to_have_text([f"old {n}" for n in range(total)])
