"""The web client's everyday polish, in Chromium on desktop and phone sizes: grouped
messages, the last channel after a reload, what a returning connection clears, the Leave
Server confirmation, the phone's unread marker, join and leave lines, focus rings and
drawers from the keyboard, and contrast."""

import re

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import ChatPage, users_in  # noqa: E402
from .conftest import ServerProcess, UserFactory  # noqa: E402
from .relay import MARKER_USER, Network, channel_list_reply, marker_frame  # noqa: E402

pytestmark = pytest.mark.browser

# WCAG 2's AA level for normal text.
MIN_CONTRAST = 4.5
# Reconnect backoff is capped at 5 s; leave room for a slow machine.
RECONNECT_TIMEOUT_MS = 20_000


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_consecutive_messages_of_one_author_are_grouped(
    open_user: UserFactory, phone: bool
) -> None:
    alice, bob = users_in(open_user, "general", "alice", "bob", phone=phone)
    for user, text in ((alice, "one"), (alice, "two"), (bob, "three"), (alice, "four")):
        user.send(text)
        expect(bob.message_text(text)).to_be_visible()
    lines = bob.messages.locator(".message:not(.system)")
    expect(lines).to_have_count(4)
    # Name and avatar once per group: alice's two, bob's one, alice's one.
    expect(bob.messages.locator(".author")).to_have_text(["alice", "bob", "alice"])
    expect(bob.messages.locator(".message .avatar")).to_have_count(3)
    second = bob.message_text("two").locator("xpath=ancestor::li[1]")
    expect(second).to_have_class("message continued")
    # The grouped line still says who wrote it to a screen reader, and when on hover.
    expect(second.locator(".visually-hidden")).to_have_text("alice: ")
    expect(second.locator("time")).to_be_hidden()
    second.hover()
    expect(second.locator("time")).to_be_visible()


def test_a_group_ends_after_a_few_minutes_or_at_another_author(open_user: UserFactory) -> None:
    alice = open_user("alice")
    expect(alice.username_field).to_be_visible()
    minute = 60_000
    groups = alice.page.evaluate(
        """async (minute) => {
          const { continuesGroup, GROUP_WINDOW_MS } = await import("/web/render.js");
          const ada = { userId: "u1", username: "ada", timestamp: 0 };
          const at = (base, timestamp) => ({ ...base, timestamp });
          return [
            GROUP_WINDOW_MS / minute,
            continuesGroup(ada, at(ada, 4 * minute)),
            continuesGroup(ada, at(ada, 5 * minute)),
            continuesGroup(ada, { userId: "u2", username: "bo", timestamp: 1 }),
            continuesGroup({ ...ada, system: true }, at(ada, 1)),
            continuesGroup(null, ada),
          ];
        }""",
        minute,
    )
    assert groups == [5, True, False, False, False, False]


def test_the_last_channel_is_restored_after_a_reload(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    alice.select("react")
    alice.page.reload()
    alice.expect_connected_as("alice")
    expect(alice.channel("react")).to_have_attribute("aria-current", "true")
    expect(alice.page.get_by_role("heading", name="#react", exact=True)).to_be_visible()
    # Someone else in this browser starts in #welcome, not in alice's channel.
    alice.disconnect()
    alice.login("zed")
    expect(alice.channel("welcome")).to_have_attribute("aria-current", "true")


def test_a_returning_connection_closes_the_drawer_and_clears_the_offline_error(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    alice = open_user("alice", phone=True)
    alice.login("alice")
    chat_server.stop()
    expect(alice.status).to_contain_text("Reconnecting")
    alice.send("into the void")
    expect(alice.send_error).to_have_text("You are offline: the message was not sent.")
    alice.channels_button.click()
    expect(alice.channel("general")).to_be_visible()
    chat_server.start()
    expect(alice.status).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
    expect(alice.channel("general")).to_be_hidden()
    expect(alice.channels_button).to_have_attribute("aria-expanded", "false")
    expect(alice.send_error).to_have_text("")
    # The unsent text is still there to send now.
    expect(alice.message_field).to_have_value("into the void")


def test_leave_server_asks_first(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    bob.leave(confirm=False)
    bob.expect_connected_as("bob")
    expect(bob.page.get_by_role("button", name="Settings", exact=True)).to_be_focused()
    # Escape is a "no" too.
    bob.open_settings()
    bob.page.get_by_role("button", name="Leave Server", exact=True).click()
    expect(bob.leave_dialog).to_be_visible()
    expect(bob.leave_dialog.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    bob.page.keyboard.press("Escape")
    expect(bob.leave_dialog).to_be_hidden()
    # The server takes bob's events in order and tells alice in that order: once she has
    # his next message, a leave his page sent on either "no" would have reached her too.
    bob.send("still here")
    expect(alice.message_text("still here")).to_be_visible()
    alice.expect_presence(online=["alice", "bob"], offline=[])
    expect(alice.system_line("bob has left the server.")).to_have_count(0)

    bob.leave()
    expect(bob.username_field).to_be_visible()
    expect(alice.system_line("bob has left the server.")).to_be_visible()
    alice.expect_presence(online=["alice"], offline=[])


def test_the_phones_channel_button_shows_unread_messages_elsewhere(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob", phone=True)
    bob.login("bob")
    dot = bob.channels_button.locator(".unread-dot")
    expect(dot).to_be_hidden()
    expect(bob.channels_button).not_to_have_attribute(
        "aria-description", "unread messages in other channels"
    )
    alice.select("general")
    alice.send("news for bob")
    expect(dot).to_be_visible()
    expect(bob.channels_button).to_have_attribute(
        "aria-description", "unread messages in other channels"
    )
    bob.channels_button.click()
    bob.select("general")
    expect(bob.message_text("news for bob")).to_be_visible()
    expect(dot).to_be_hidden()
    expect(bob.channels_button).not_to_have_attribute(
        "aria-description", "unread messages in other channels"
    )


def test_a_channel_button_is_updated_in_place_not_rebuilt(open_user: UserFactory) -> None:
    # A button replaced between a press and its release loses the click (and a phone's
    # drawer test lost its click that way): news changes the button that is there.
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    shown = bob.channel("general").element_handle()
    alice.select("general")
    alice.send("news for bob")
    expect(bob.channel("general")).to_have_class(re.compile(r"\bunread\b"))
    assert shown.evaluate("button => button.isConnected")
    assert shown.evaluate("button => button.classList.contains('unread')")
    bob.select("general")
    expect(bob.channel("general")).not_to_have_class(re.compile(r"\bunread\b"))
    assert shown.evaluate("button => button.isConnected && button.classList.contains('current')")


def test_join_and_leave_lines_look_different(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    joined = alice.system_line("bob has joined the server!").locator("xpath=ancestor::li[1]")
    expect(joined).to_have_class("message system join")
    bob.leave()
    left = alice.system_line("bob has left the server.").locator("xpath=ancestor::li[1]")
    expect(left).to_have_class("message system leave")
    icons = [line.locator(".system-icon") for line in (joined, left)]
    expect(icons[0]).to_have_text("→")
    expect(icons[1]).to_have_text("←")
    colours = [icon.evaluate("node => getComputedStyle(node).color") for icon in icons]
    assert colours[0] != colours[1]


def _tab_through(user: ChatPage, presses: int, *, shift: bool = False) -> list[str]:
    """Press Tab ``presses`` times; the focused element's id or classes after each."""
    seen = []
    for _ in range(presses):
        user.page.keyboard.press("Shift+Tab" if shift else "Tab")
        seen.append(
            user.page.evaluate(
                "() => { const n = document.activeElement;"
                " return n.id || n.getAttribute('aria-label') || n.className; }"
            )
        )
    return seen


def test_a_late_channel_list_leaves_an_open_drawer_and_its_focus_alone(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice", phone=True)
    # The page asks for the channel list after each connect; on a busy server the answer
    # may come after the user opened the drawer.
    network = Network(alice.page)
    network.hold(channel_list_reply)
    alice.login("alice")
    alice.channels_button.focus()
    alice.page.keyboard.press("Enter")
    expect(alice.channel("welcome")).to_be_focused()
    network.release()
    network.inject(marker_frame())
    expect(alice.member(MARKER_USER)).to_have_count(1)
    expect(alice.channel("welcome")).to_be_focused()
    expect(alice.channels_button).to_have_attribute("aria-expanded", "true")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_focus_rings_are_never_clipped(open_user: UserFactory, phone: bool) -> None:
    alice = open_user("alice", phone=phone)
    alice.login("alice")
    alice.send("something to focus around")
    expect(alice.message_text("something to focus around")).to_be_visible()
    alice.page.locator("body").focus()
    problems: list[str] = []
    # Every stop of the page's Tab order, then the same inside each phone drawer.
    for _ in range(20):
        alice.page.keyboard.press("Tab")
        problems += alice.clipped_focus_ring()
    if phone:
        for button in (alice.channels_button, alice.members_button):
            # From the keyboard: a click's focus shows no ring, by the browser's design.
            button.focus()
            alice.page.keyboard.press("Enter")
            problems += alice.clipped_focus_ring()
            for _ in range(8):
                alice.page.keyboard.press("Tab")
                problems += alice.clipped_focus_ring()
            alice.page.keyboard.press("Escape")
        alice.channels_button.focus()
        alice.page.keyboard.press("Enter")
    # The settings menu and the Leave confirmation, from the keyboard too.
    alice.page.get_by_role("button", name="Settings", exact=True).focus()
    for key in ("Enter", "Tab", "Enter", "Tab"):  # Disconnect, Leave Server, Cancel, Leave
        alice.page.keyboard.press(key)
        problems += alice.clipped_focus_ring()
    expect(alice.leave_dialog.get_by_role("button", name="Leave", exact=True)).to_be_focused()
    alice.page.keyboard.press("Escape")
    expect(alice.leave_dialog).to_be_hidden()
    assert sorted(set(problems)) == []


def test_an_open_drawer_keeps_the_focus_and_escape_gives_it_back(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice", phone=True)
    alice.login("alice")
    alice.channels_button.focus()
    alice.page.keyboard.press("Enter")
    expect(alice.channel("welcome")).to_be_focused()
    inside = "() => document.getElementById('channels-panel').contains(document.activeElement)"
    stops = _tab_through(alice, 10)
    assert alice.page.evaluate(inside), f"focus left the drawer; the stops were {stops}"
    # Five channels and the settings button, then round again.
    assert stops[:6] == [
        "#general",
        "#react",
        "#learners",
        "#casual",
        "settings-button",
        "#welcome",
    ]
    for _ in range(10):
        alice.page.keyboard.press("Shift+Tab")
        assert alice.page.evaluate(inside)
    # What is behind the drawer cannot be reached by pointer or screen reader either.
    assert alice.page.evaluate("document.getElementById('conversation').inert") is True
    alice.page.keyboard.press("Escape")
    expect(alice.channel("welcome")).to_be_hidden()
    expect(alice.channels_button).to_be_focused()
    assert alice.page.evaluate("document.getElementById('conversation').inert") is False

    # The member list has nothing to press: the drawer itself holds the focus.
    alice.members_button.click()
    members = alice.page.get_by_role("complementary", name="Members", exact=True)
    expect(members).to_be_focused()
    _tab_through(alice, 3)
    expect(members).to_be_focused()
    alice.page.keyboard.press("Escape")
    expect(alice.members_button).to_be_focused()


def test_placeholder_offline_names_and_unread_badges_are_readable(
    open_user: UserFactory,
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    bob.disconnect()
    alice.expect_presence(online=["alice"], offline=["bob"])
    (carol,) = users_in(open_user, "general", "carol")
    carol.send("unread for alice")
    badge = alice.channel("general").locator(".unread-count")
    expect(badge).to_have_text("1")
    ratios = {
        "placeholder": alice.contrast_ratio(alice.message_field, "::placeholder"),
        "offline name": alice.contrast_ratio(alice.offline_users().first),
        "unread badge": alice.contrast_ratio(badge),
    }
    assert all(ratio >= MIN_CONTRAST for ratio in ratios.values()), ratios
