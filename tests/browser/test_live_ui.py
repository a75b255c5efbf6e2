"""Issue 18's live features in Chromium with several users: who is typing."""

import re

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import ChatPage, users_in  # noqa: E402
from .conftest import UserFactory  # noqa: E402

pytestmark = pytest.mark.browser


def test_others_see_who_is_typing_until_the_message_arrives(open_user: UserFactory) -> None:
    ada, bob, cy = users_in(open_user, "general", "ada", "bob", "cy")
    ada.type("hello th")
    expect(bob.page.get_by_text("ada is typing...", exact=True)).to_be_visible()
    # One's own typing is not shown to oneself.
    expect(ada.typing_indicator).to_have_text("")
    cy.type("me t")
    expect(bob.typing_indicator).to_have_text("ada and cy are typing...")
    expect(ada.typing_indicator).to_have_text("cy is typing...")
    ada.message_field.press("End")
    ada.type("ere")
    ada.message_field.press("Enter")
    expect(bob.message_text("hello there")).to_be_visible()
    expect(bob.typing_indicator).to_have_text("cy is typing...")
    # Another channel has its own list.
    bob.select("react")
    expect(bob.typing_indicator).to_have_text("")
    # A key more keeps cy's typing fresh (a key sends typing:start again once 2 s have
    # passed since the last; the server forgets a typist after 6), however slow the steps
    # since were.
    cy.type("o")
    bob.select("general")
    expect(bob.typing_indicator).to_have_text("cy is typing...")
    # cy stops without sending: the server lets it expire.
    expect(bob.typing_indicator).to_have_text("", timeout=15_000)
    assert not (ada.problems() + bob.problems() + cy.problems())


def test_the_typing_text_names_a_few_and_counts_a_crowd(open_user: UserFactory) -> None:
    page = open_user("ada").page
    texts = page.evaluate(
        """async () => {
          const { typingText } = await import("/web/typing.js");
          return [[], ["ada"], ["ada", "bob"], ["ada", "bob", "cy"], ["a", "b", "c", "d"]]
            .map(typingText);
        }"""
    )
    assert texts == [
        "",
        "ada is typing...",
        "ada and bob are typing...",
        "ada, bob and cy are typing...",
        "Several people are typing...",
    ]


def test_unread_counts_and_the_new_messages_line_survive_a_reload(
    open_user: UserFactory,
) -> None:
    ada, bob = users_in(open_user, "general", "ada", "bob")
    bob.select("react")
    bob.send("first")
    ada.select("react")
    expect(ada.message_text("first")).to_be_visible()
    ada.select("general")
    for text in ("second", "third"):
        bob.send(text)
    expect(ada.channel("react")).to_have_attribute("aria-description", "2 unread")
    # The server kept where ada stopped reading: a reload shows the same.
    ada.page.reload()
    ada.expect_connected_as("ada")
    expect(ada.channel("react")).to_have_attribute("aria-description", "2 unread")
    ada.select("react")
    line = ada.messages.get_by_role("separator", name="New messages")
    expect(line).to_have_count(1)
    # The line sits right above the first message that came after the last visit.
    following = line.locator("xpath=following-sibling::li[1]")
    expect(following.locator(".text")).to_have_text("second")
    expect(ada.channel("react")).not_to_have_attribute("aria-description", "2 unread")


def test_reading_in_one_tab_clears_the_count_in_the_other(open_user: UserFactory) -> None:
    ada, bob = users_in(open_user, "general", "ada", "bob")
    bob.select("casual")
    bob.send("hello")
    ada.select("casual")
    expect(ada.message_text("hello")).to_be_visible()
    ada.select("general")
    # A second tab of ada's (the same browser, so the same session).
    tab = ChatPage("ada's tab", ada.page.context.new_page(), ada.url)
    tab.open()
    tab.expect_connected_as("ada")
    tab.select("general")
    bob.send("news")
    expect(ada.channel("casual")).to_have_attribute("aria-description", "1 unread")
    expect(tab.channel("casual")).to_have_attribute("aria-description", "1 unread")
    tab.select("casual")
    expect(tab.message_text("news")).to_be_visible()
    expect(ada.channel("casual")).not_to_have_attribute("aria-description", "1 unread")
    assert not (ada.problems() + tab.problems() + bob.problems())


def test_the_count_is_the_read_positions_alone(open_user: UserFactory) -> None:
    """One count, from the read positions: one's own line sent from another tab is no
    news, and a channel the server keeps no position for counts what came after the
    greeting, not its history."""
    bob, ada = users_in(open_user, "general", "bob", "ada")
    bob.select("learners")
    bob.send("history, before ada came")
    # Stored once echoed: ada's greeting after the reload must find it history, not news.
    expect(bob.message_text("history, before ada came")).to_be_visible()
    bob.select("general")
    ada.page.reload()
    ada.expect_connected_as("ada")
    tab = ChatPage("ada's tab", ada.page.context.new_page(), ada.url)
    tab.open()
    tab.expect_connected_as("ada")
    tab.select("casual")
    tab.send("from my other tab")
    expect(tab.message_text("from my other tab")).to_be_visible()
    bob.select("casual")
    bob.send("from bob")
    expect(ada.channel("casual")).to_have_attribute("aria-description", "1 unread")
    expect(ada.channel("learners")).not_to_have_attribute("aria-description", re.compile("unread"))
    bob.select("learners")
    bob.send("news")
    expect(ada.channel("learners")).to_have_attribute("aria-description", "1 unread")
    assert not (ada.problems() + tab.problems() + bob.problems())


# Records the notifications the page makes (a headless browser shows none).
_RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.shownNotifications.push([title, options.body]); }
};
"""


def test_a_mention_is_suggested_highlighted_marked_and_notified(open_user: UserFactory) -> None:
    ada, bob, cy = users_in(open_user, "general", "ada", "bob", "cy")
    ada.page.context.add_init_script(_RECORD_NOTIFICATIONS)
    ada.page.reload()
    ada.expect_connected_as("ada")
    ada.select("general")
    # bob picks ada's name from the suggestions.
    bob.type("@a")
    suggestions = bob.page.get_by_role("listbox", name="Mention suggestions")
    expect(suggestions.get_by_role("option")).to_have_text(["ada"])
    bob.message_field.press("Enter")
    expect(bob.message_field).to_have_value("@ada ")
    bob.type("look at this")
    bob.message_field.press("Enter")
    seen = ada.message_text("@ada look at this").locator("xpath=ancestor::li[1]")
    expect(seen).to_have_class(re.compile(r"\bmentioned\b"))
    expect(cy.message_text("@ada look at this").locator("xpath=ancestor::li[1]")).not_to_have_class(
        re.compile(r"\bmentioned\b")
    )
    # In another channel: a marker on the channel, and the browser's notification.
    ada.select("react")
    bob.send("@ada over here")
    expect(ada.channel("general")).to_have_attribute(
        "aria-description", re.compile("you were mentioned")
    )
    expect(ada.channel("general").locator(".mention-marker")).to_have_text("@")
    ada.page.wait_for_function("window.shownNotifications.length === 1")
    assert ada.page.evaluate("window.shownNotifications") == [
        ["bob mentioned you in #general", "@ada over here"]
    ]
    ada.select("general")
    expect(ada.channel("general").locator(".mention-marker")).to_have_count(0)
    assert not (ada.problems() + bob.problems() + cy.problems())


def test_history_without_mentions_is_highlighted_by_the_name_written(
    open_user: UserFactory,
) -> None:
    page = open_user("ada").page
    found = page.evaluate(
        """async () => {
          const { mentionsMe } = await import("/web/mentions.js");
          const me = { userId: "u1", username: "Ada" };
          const from = (text, extra = {}) => ({ userId: "u2", message: text, ...extra });
          return [
            mentionsMe(from("hi @ada!"), me),
            mentionsMe(from("hi @adam"), me),
            mentionsMe(from("mail x@ada"), me),
            mentionsMe(from("hi @ada", { mentions: [] }), me),
            mentionsMe(from("hi", { mentions: ["u1"] }), me),
            mentionsMe({ userId: "u1", message: "@ada me" }, me),
          ];
        }"""
    )
    assert found == [True, False, False, False, True, False]
