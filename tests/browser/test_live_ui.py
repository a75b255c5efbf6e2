"""Issue 18's live features in Chromium with several users: who is typing."""

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import users_in  # noqa: E402
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
