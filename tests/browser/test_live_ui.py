"""Issue 18's live features in Chromium with several users: who is typing."""

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
